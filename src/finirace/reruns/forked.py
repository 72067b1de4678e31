"""Reruns forked from a warm process: the session's side of one warm process.

A warm process (:mod:`finirace.reruns.warm`) has started pytest and
collected one test file; each rerun is a child forked from it.  This side
reads the child's output, bounds its time (gdb's backtraces of every thread,
then ``SIGTERM``, then ``SIGKILL``, as :func:`finirace.proc.run` does), kills
what it left, and turns its end into the same :class:`~finirace.proc.ProcResult`
as a fresh run's, so the detector, the judge and
:func:`~finirace.stress.execute.finish_run` treat it exactly like one.

Several reruns run at once (a test's reruns side by side, ``--finirace-jobs``):
:meth:`Warm.run` is called from as many threads.  Requests share the warm
process's socket (one at a time), but each rerun's answers (the child's pid,
then its exit status) come on a pipe of its own, read by the thread that
asked: no reader thread, since a thread of ours alive in the pytest process
is one more thread that the tests' own leak checks would count.

Each child gets its own run's perturbation: the warm process is started
with the shim preloaded but none of a run's variables; the child sets them,
has the shim read them again (``finirace_shim_reconfigure``: exit window,
native delays, seed, CPU pin, hog threads) and runs the perturbation's
``sitecustomize`` when its level has one.  Which warm process a rerun uses,
and when a fresh interpreter is used instead, is
:mod:`finirace.reruns.launcher`'s choice.
"""

from __future__ import annotations

import itertools
import json
import os
import selectors
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from finirace import detectors
from finirace.proc import ProcResult
from finirace.proc.containment import TOKEN_ENV, die_with_parent, kill_group, sweep, track, untrack
from finirace.proc.output import CHUNK, DEFAULT_HEAD, DEFAULT_TAIL, BoundedOutput, read_ready
from finirace.proc.runner import signal_name
from finirace.reruns.target import RerunTarget
from finirace.reruns.warm import Channel
from finirace.stress.execute import RunSpec, run_environment, run_perturbation
from finirace.stress.perturb import RunPerturbation, sitecustomize_dir

GRACE = 0.5  # seconds between SIGTERM and SIGKILL of a timed-out rerun
_BOOT = ("import os, sys; sys.path.insert(0, {src!r}); from finirace.reruns.warm import main; "
         "sys.path.remove({src!r}); sys.path[0] = os.getcwd(); sys.exit(main(sys.argv[1:]))")


class _Answers:
    """What the warm process says of one rerun, on that rerun's own pipe: its pid, then how it ended."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.pid = 0
        self.status: int | None = None
        self.learned: list[str] = []
        self.why = ""
        self.over = False  # the end was told, or the pipe closed (the warm process is gone)

    def read(self, sel: selectors.BaseSelector | None) -> None:
        data = read_ready(self.fd, 65536)
        if data is None:
            return
        if not data:
            self.over = True
            self.why = self.why or "the warm process is gone"
            if sel is not None:
                sel.unregister(self.fd)
            return
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            message = json.loads(line)
            if "status" in message:
                self.status = int(message["status"])
                self.learned = list(message.get("learned", ()))
                self.over = True
            elif message.get("pid"):
                self.pid = int(message["pid"])
            else:
                self.why = str(message.get("why", "the warm process did not fork"))
                self.over = True

    def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` for the end to be told; whether it was (or the warm process is gone)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            while not self.over:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                if sel.select(left):
                    self.read(None)
        return self.over


class Warm:
    """One warm process, for one test file."""

    def __init__(self, target: RerunTarget, spec: RunSpec, preload: set[str]) -> None:
        """Start it (collection goes on in the background until :meth:`ready`)."""
        self.path = target.path
        self.why = ""
        self.preload = preload  # shared by every warm process of the session; grows as children tell
        self.timeout = spec.timeout
        self.answered = False
        self.send_lock = threading.Lock()  # reruns run in several threads; requests go one at a time
        self.count = itertools.count(1)  # run ids
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
        """One rerun forked from here; None when the warm process could not fork it.

        Safe to call from several threads at once: each rerun's answers (its
        pid, then how it ended) come on a pipe of its own, read by the thread
        that asked, so no thread is left behind in the pytest process.
        """
        token = uuid.uuid4().hex
        run = run_perturbation(spec)
        env = dict(spec.perturbation.environment(spec.seed, run))
        env[TOKEN_ENV] = token
        sitecustomize = str(sitecustomize_dir() / "sitecustomize.py") if run.python else None
        fds = {name: os.pipe() for name in ("out", "err", "answer")}
        theirs = [w for _, w in fds.values()]
        start = time.monotonic()
        try:
            with self.send_lock:
                self.channel.send({"id": next(self.count), "run": list(target.names), "env": env,
                                   "sitecustomize": sitecustomize}, theirs)
        except OSError:
            self.why = self.why or "the warm process is gone"
            return None
        finally:
            for fd in theirs:
                os.close(fd)
        out, err = BoundedOutput(DEFAULT_HEAD, DEFAULT_TAIL), BoundedOutput(DEFAULT_HEAD, DEFAULT_TAIL)
        answers = _Answers(fds["answer"][0])
        try:
            pid, status, timed_out, note = self._pump({fds["out"][0]: out, fds["err"][0]: err}, answers,
                                                      start + spec.timeout)
            leftovers = sweep(token, pid) if pid else 0
        finally:
            for r, _ in fds.values():
                os.close(r)
        if not pid:
            self.why = self.why or answers.why
            return None
        if status is None:  # how the child ended is lost with the warm process: run it fresh
            kill_group(pid, signal.SIGKILL)
            self.why = self.why or "the warm process is gone"
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

    def _pump(self, sinks: dict[int, BoundedOutput], answers: "_Answers",
              deadline: float) -> tuple[int, int | None, bool, str | None]:
        """Read the child's output and answers until its end is told, or the deadline passes.

        (the child's pid, 0 when none was forked; its exit status as
        ``os.waitstatus_to_exitcode`` gives it, or None when the warm process
        is gone; timed out; what gdb said of a timed-out child).
        """
        sel = selectors.DefaultSelector()
        for fd in (*sinks, answers.fd):
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        timed_out, note = False, None
        try:
            while not answers.over:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    if not answers.pid:  # not even forked in time: the warm process is stuck
                        answers.why = "the warm process did not answer"
                        break
                    timed_out = True
                    note = detectors.get("plain").on_timeout(answers.pid)
                    kill_group(answers.pid, signal.SIGTERM)
                    if not answers.wait(GRACE):
                        kill_group(answers.pid, signal.SIGKILL)
                        answers.wait(None)
                    break
                for key, _ in sel.select(wait):
                    if key.fd == answers.fd:
                        answers.read(sel)
                    else:
                        self._read(key.fd, sinks, sel)
        finally:
            sel.close()
        for fd in list(sinks):
            while self._read(fd, sinks, None):
                pass
        if answers.status is not None:
            self.preload.update(answers.learned)
        return answers.pid, answers.status, timed_out, note

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
