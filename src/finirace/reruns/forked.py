"""Reruns forked from a warm process, or run in a fresh one when forking is not safe.

The session keeps one warm process (:mod:`finirace.reruns.warm`) for the test
file whose tests it reruns, and starts the next when the file changes, so a
warm process has imported what a fresh rerun of that test would import, and
not more.  Each rerun is a child forked from it; this side reads the child's
output, bounds its time (gdb's backtraces of every thread, then ``SIGTERM``,
then ``SIGKILL``, as :func:`finirace.proc.run` does), kills what it left, and
turns its end into the same :class:`~finirace.proc.ProcResult`, so the
detector, the judge and :func:`~finirace.stress.execute.finish_run` treat it
exactly like a fresh run.

Each child gets its own run's perturbation: the warm process is started
with the shim preloaded but none of a run's variables; the child sets them,
has the shim read them again (``finirace_shim_reconfigure``: exit window,
native delays, seed, CPU pin, hog threads) and runs the perturbation's
``sitecustomize`` when its level has one.  A fresh process
(:func:`~finirace.stress.execute.execute_run`) is used instead when the warm
process refuses (threads after collection, a collection error, no ``fork``),
when it dies, and under a detector other than plain (gdb, valgrind wrap the
interpreter from its start).
How many reruns went which way, and why, is kept for the session's summary.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from finirace import detectors
from finirace.detectors.base import Prepared
from finirace.proc import ProcResult
from finirace.proc.containment import (TOKEN_ENV, become_subreaper, die_with_parent, kill_group, sweep, track,
                                       untrack)
from finirace.proc.output import CHUNK, DEFAULT_HEAD, DEFAULT_TAIL, BoundedOutput
from finirace.proc.runner import signal_name
from finirace.records import StressRunRecord
from finirace.reruns.target import RerunTarget, judge
from finirace.reruns.warm import Channel
from finirace.stress.execute import RunSpec, execute_run, finish_run, run_environment, run_perturbation
from finirace.stress.perturb import RunPerturbation, sitecustomize_dir

GRACE = 0.5  # seconds between SIGTERM and SIGKILL of a timed-out rerun
_BOOT = ("import os, sys; sys.path.insert(0, {src!r}); from finirace.reruns.warm import main; "
         "sys.path.remove({src!r}); sys.path[0] = os.getcwd(); sys.exit(main(sys.argv[1:]))")


class _Warm:
    """One warm process, for one test file."""

    def __init__(self, target: RerunTarget, spec: RunSpec, preload: set[str]) -> None:
        """Start it (collection goes on in the background until :meth:`ready`)."""
        self.path = target.path
        self.why = ""
        self.preload = preload  # shared by every warm process of the session; grows as children tell
        self.timeout = spec.timeout
        self.answered = False
        env = run_environment(spec)
        # each child gets its own run's variables (the shim re-reads them, the perturbation's
        # sitecustomize runs there): none of them here, only the shim itself and its crash handler
        for name in spec.perturbation.environment(0, RunPerturbation("all", cpu=0, hogs=1)):
            env.pop(name, None)
        if "PYTHONPATH" in os.environ:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        else:
            env.pop("PYTHONPATH", None)
        env.pop(TOKEN_ENV, None)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.channel = Channel(ours)
        self.logs = tempfile.TemporaryDirectory(prefix="finirace-warm-")
        self.stderr_path = Path(self.logs.name) / "stderr"
        src = str(Path(__file__).resolve().parents[2])  # where finirace itself is imported from
        with open(Path(self.logs.name) / "stdout", "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [target.python, "-c", _BOOT.format(src=src), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                cwd=target.rootdir, env=env, start_new_session=True, preexec_fn=die_with_parent(os.getpid()),
            )
        theirs.close()
        track(self.proc.pid)  # our child, not an orphan a rerun left: the sweep after each rerun skips it
        self.channel.send({"args": [*target.pytest_args(), target.path], "preload": sorted(preload)})

    def ready(self) -> bool:
        """Wait until it has collected; False (and ``why`` said) when it will not fork."""
        if not self.answered:
            self.answered = True
            answer = self._receive(self.timeout)
            if answer is None:
                self.why = "the warm process ended before collecting: " + self._stderr_tail()
            elif not answer.get("ok"):
                self.why = str(answer.get("why"))
            if self.why:
                self.close()
        return not self.why

    def _stderr_tail(self) -> str:
        try:
            lines = self.stderr_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no output"
        return lines[-1] if lines else "no output"

    def _receive(self, timeout: float | None) -> dict | None:
        if not self.channel.pending():
            ready = selectors.DefaultSelector()
            ready.register(self.channel.sock, selectors.EVENT_READ)
            try:
                if not ready.select(timeout):
                    return None
            finally:
                ready.close()
        message, fds = self.channel.receive()
        for fd in fds:
            os.close(fd)
        return message

    def alive(self) -> bool:
        return not self.why and self.proc.poll() is None

    def run(self, target: RerunTarget, spec: RunSpec) -> ProcResult | None:
        """One rerun forked from here; None when the warm process could not fork it."""
        token = uuid.uuid4().hex
        run = run_perturbation(spec)
        env = dict(spec.perturbation.environment(spec.seed, run))
        env[TOKEN_ENV] = token
        sitecustomize = str(sitecustomize_dir() / "sitecustomize.py") if run.python else None
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        start = time.monotonic()
        try:
            self.channel.send({"run": list(target.names), "env": env, "sitecustomize": sitecustomize},
                              (out_w, err_w))
        except OSError:
            self.why = "the warm process is gone"
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            return None
        os.close(out_w)
        os.close(err_w)
        answer = self._receive(spec.timeout)
        pid = int(answer.get("pid", 0)) if answer else 0
        if not pid:
            self.why = str(answer.get("why")) if answer else "the warm process is gone"
            os.close(out_r)
            os.close(err_r)
            return None
        out, err = BoundedOutput(DEFAULT_HEAD, DEFAULT_TAIL), BoundedOutput(DEFAULT_HEAD, DEFAULT_TAIL)
        status, timed_out, note = self._pump(pid, {out_r: out, err_r: err}, start + spec.timeout)
        leftovers = sweep(token, pid)
        os.close(out_r)
        os.close(err_r)
        if status is None:  # how the child ended is lost with the warm process: run it fresh
            kill_group(pid, signal.SIGKILL)
            self.why = "the warm process is gone"
            return None
        code = sig = None
        if status >= 0:
            code = status
        elif not timed_out or status not in (-signal.SIGTERM, -signal.SIGKILL):  # our kill is not its ending
            sig = signal_name(-status)
        return ProcResult(
            argv=spec.argv, exit_code=code, signal=sig, timed_out=timed_out, duration=time.monotonic() - start,
            stdout=out.text(), stderr=err.text(), stdout_bytes=out.total, stderr_bytes=err.total,
            leftovers_killed=leftovers, timeout_note=note, pid=pid, token=token,
        )

    def _pump(self, pid: int, sinks: dict[int, BoundedOutput], deadline: float) -> tuple[int | None, bool, str | None]:
        """Read the child's output until the warm process says it ended, or the deadline passes.

        (exit status as ``os.waitstatus_to_exitcode`` gives it, or None when the
        warm process is gone; timed out; what gdb said of a timed-out child).
        """
        sel = selectors.DefaultSelector()
        for fd in sinks:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        sel.register(self.channel.sock, selectors.EVENT_READ)
        timed_out, note, status = False, None, None
        try:
            while not self.channel.pending():
                wait = deadline - time.monotonic()
                if wait <= 0:
                    timed_out = True
                    note = detectors.get("plain").on_timeout(pid)
                    kill_group(pid, signal.SIGTERM)
                    status = self._receive_status(GRACE)
                    if status is None:
                        kill_group(pid, signal.SIGKILL)
                        status = self._receive_status(None)
                    break
                for key, _ in sel.select(wait):
                    if key.fd != self.channel.sock.fileno():
                        self._read(key.fd, sinks, sel)
                    elif not self.channel.fill():
                        return None, timed_out, note
        finally:
            sel.close()
        if not timed_out:
            status = self._receive_status(None)
        for fd in list(sinks):
            while self._read(fd, sinks, None):
                pass
        return status, timed_out, note

    def _receive_status(self, timeout: float | None) -> int | None:
        message = self._receive(timeout)
        if message and "status" in message:
            self.preload.update(message.get("learned", ()))
            return int(message["status"])
        return None

    @staticmethod
    def _read(fd: int, sinks: dict[int, BoundedOutput], sel: selectors.BaseSelector | None) -> bool:
        try:
            data = os.read(fd, CHUNK)
        except (BlockingIOError, OSError):
            return False
        if not data:
            if sel is not None:
                sel.unregister(fd)
            return False
        sinks[fd].feed(data)
        return True

    def close(self) -> None:
        if not self.answered:  # still collecting, and not wanted: no reason to wait for it
            kill_group(self.proc.pid, signal.SIGKILL)
        try:
            self.channel.send({"quit": True})
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            kill_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        untrack(self.proc.pid)
        self.channel.sock.close()
        self.logs.cleanup()


@dataclass
class Launcher:
    """Makes each rerun: forked from the warm process of its test file, or fresh."""

    fork: bool = True
    forked: int = 0
    fresh: int = 0
    why_fresh: dict[str, str] = field(default_factory=dict)  # test file -> why its reruns were fresh
    files: list[str] = field(default_factory=list)  # the session's test files, in the order it runs them
    _warm: _Warm | None = None
    _next: _Warm | None = None  # the next file's, collecting while this file's reruns run
    _preload: set[str] = field(default_factory=set)

    def for_target(self, target: RerunTarget):
        """The launch function of one test's round."""
        return lambda spec: self.launch(target, spec)

    def launch(self, target: RerunTarget, spec: RunSpec) -> StressRunRecord:
        result = self._forked(target, spec) if self._can_fork(target, spec) else None
        if result is None:
            self.fresh += 1
            return execute_run(spec, judge=judge)
        self.forked += 1
        det = detectors.get(spec.detector)
        detection = judge(result, det.interpret(Prepared(spec.argv, {}), result))
        return finish_run(spec, result, detection)

    def _can_fork(self, target: RerunTarget, spec: RunSpec) -> bool:
        if not self.fork or target.path in self.why_fresh:
            return False
        why = ""
        if spec.detector != "plain":
            why = f"the {spec.detector} detector wraps the interpreter from its start"
        elif not hasattr(os, "fork") or not hasattr(socket, "send_fds") or not sys.platform.startswith("linux"):
            why = "this platform cannot fork a warm process"
        if why:
            self.why_fresh[target.path] = why
        return not why

    def _forked(self, target: RerunTarget, spec: RunSpec) -> ProcResult | None:
        become_subreaper()  # what a rerun leaves behind comes to us, to be killed and reaped
        if self._warm is not None and (self._warm.path != target.path or not self._warm.alive()):
            self._warm.close()
            self._warm = None
        if self._warm is None:
            if self._next is not None and self._next.path == target.path:
                warm, self._next = self._next, None
            else:
                warm = _Warm(target, spec, self._preload)
            self._prefetch(target, spec)
            if not warm.ready():
                self.why_fresh[target.path] = warm.why
                return None
            self._warm = warm
        result = self._warm.run(target, spec)
        if result is None or self._warm.why:
            self.why_fresh[target.path] = self._warm.why
            self._warm.close()
            self._warm = None
        return result

    def _prefetch(self, target: RerunTarget, spec: RunSpec) -> None:
        """Start the warm process of the file after ``target``'s, so its start-up overlaps these reruns."""
        if self._next is not None:
            self._next.close()
            self._next = None
        later = self.files[self.files.index(target.path) + 1:] if target.path in self.files else []
        if later and later[0] not in self.why_fresh:
            following = RerunTarget("", later[0], (), target.rootdir, target.inifile, target.python)
            self._next = _Warm(following, spec, self._preload)

    def close(self) -> None:
        for warm in (self._warm, self._next):
            if warm is not None:
                warm.close()
        self._warm = self._next = None
