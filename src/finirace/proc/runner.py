"""Run one target process safely: never a shell, always bounded, nothing left behind.

Shared by ``stress`` (user commands) and ``lab`` (generated C programs).  The one
entry point is :func:`run`; it returns a frozen :class:`ProcResult` and never
raises for anything the *target* does (missing command, no run bit, crash, hang,
flood of output, children that outlive it).

* Output is read as it comes (``selectors`` on both pipes plus a pidfd for the
  exit) into a :class:`~finirace.proc.output.BoundedOutput` each.
* After every run, :func:`~finirace.proc.containment.sweep` kills what the run
  left (see :mod:`finirace.proc.containment` for how it is found); the count is
  ``ProcResult.leftovers_killed``.
* On timeout an optional callback sees the still-running pid first (to attach
  gdb and take all-thread backtraces), then the group gets ``SIGTERM``, a short
  grace, and ``SIGKILL``.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from finirace.proc.containment import TOKEN_ENV, become_subreaper, die_with_parent, kill_group, sweep, track, untrack
from finirace.proc.output import CHUNK, DEFAULT_HEAD, DEFAULT_TAIL, BoundedOutput, read_ready


@dataclass(frozen=True)
class ProcResult:
    """How one target process ended.

    ``exit_code`` is the plain exit status (``None`` when killed by a signal or
    never started); ``signal`` the name of the signal that ended it
    (``"SIGSEGV"``).  ``launch_error`` is set, and everything else empty, when
    the command could not be started at all.  ``timeout_note`` holds what the
    ``on_timeout`` callback returned (e.g. gdb backtraces).
    """

    argv: tuple[str, ...]
    exit_code: int | None
    signal: str | None
    timed_out: bool
    duration: float
    stdout: str
    stderr: str
    stdout_bytes: int
    stderr_bytes: int
    leftovers_killed: int = 0
    launch_error: str | None = None
    timeout_note: str | None = None
    pid: int | None = None
    token: str = ""
    output_limited: bool = False
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def started(self) -> bool:
        return self.launch_error is None

    @property
    def ok(self) -> bool:
        """Started, exited with status 0 in time."""
        return self.started and not self.timed_out and self.exit_code == 0

    def describe(self) -> str:
        """One line: how it ended."""
        if self.launch_error:
            return self.launch_error
        if self.timed_out:
            return f"timed out after {self.duration:.1f}s"
        if self.signal:
            return f"killed by {self.signal}"
        return f"exited with status {self.exit_code}"


def signal_name(num: int) -> str:
    """The name of a signal (``SIGSEGV``), or ``SIG<n>`` for a number Python has no name for."""
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"SIG{num}"


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
    on_timeout: Callable[[int], str | None] | None = None,
    grace: float = 0.5,
    head_bytes: int = DEFAULT_HEAD,
    tail_bytes: int = DEFAULT_TAIL,
    output_limit: int | None = None,
    token: str | None = None,
) -> ProcResult:
    """Run ``argv`` (no shell) and return how it ended; never raises for the target's doing.

    ``env`` is the whole environment (``None``: inherit ours); the run marker
    ``FINIRACE_RUN_TOKEN`` is added to it.  ``timeout`` bounds the run in
    seconds; then ``on_timeout(pid)`` is called while the target still runs and
    its return value kept as ``timeout_note``, then the group gets SIGTERM,
    ``grace`` seconds, SIGKILL.  ``output_limit`` (bytes over both streams),
    when set, ends a run that prints more, as if it timed out.
    """
    argv = tuple(str(a) for a in argv)
    if not argv:
        return _failed(argv, "empty command", token or "")
    become_subreaper()
    token = token or uuid.uuid4().hex
    full_env = dict(os.environ if env is None else env)
    full_env[TOKEN_ENV] = token
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            env=full_env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
            preexec_fn=die_with_parent(os.getpid()),
        )
    except FileNotFoundError as exc:
        where = f" (in {cwd})" if cwd and exc.filename != argv[0] else ""
        return _failed(argv, f"command not found: {exc.filename or argv[0]}{where}", token)
    except PermissionError:
        return _failed(argv, f"not executable (no run bit or no access): {argv[0]}", token)
    except OSError as exc:
        return _failed(argv, f"cannot run {argv[0]}: {exc.strerror or exc}", token)

    track(proc.pid)
    out = BoundedOutput(head_bytes, tail_bytes)
    err = BoundedOutput(head_bytes, tail_bytes)
    timed_out = False
    limited = False
    note: str | None = None
    leftovers = 0
    try:
        timed_out, limited, note = _pump(proc, out, err, start + timeout, on_timeout, output_limit)
        if timed_out or limited:
            kill_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
            kill_group(proc.pid, signal.SIGKILL)
        # the leader is gone (a zombie still holding its pid, unless killed
        # above); anything else of its group, session or marker is a leftover
        leftovers = sweep(token, proc.pid)
        returncode = proc.wait()
        _drain(proc, out, err)
    finally:
        if proc.returncode is None:  # interrupted (KeyboardInterrupt): still leave nothing
            kill_group(proc.pid, signal.SIGKILL)
            sweep(token, proc.pid)
            proc.wait()
        untrack(proc.pid)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    duration = time.monotonic() - start
    if timed_out or limited:
        # the kill we sent is not the target's own ending
        code, sig = None, None
        if returncode >= 0:
            code = returncode
        elif returncode not in (-signal.SIGTERM, -signal.SIGKILL):
            sig = signal_name(-returncode)
    else:
        code = returncode if returncode >= 0 else None
        sig = signal_name(-returncode) if returncode < 0 else None
    return ProcResult(
        argv=argv,
        exit_code=code,
        signal=sig,
        timed_out=timed_out,
        duration=duration,
        stdout=out.text(),
        stderr=err.text(),
        stdout_bytes=out.total,
        stderr_bytes=err.total,
        leftovers_killed=leftovers,
        timeout_note=note,
        pid=proc.pid,
        token=token,
        output_limited=limited,
        env=full_env,
    )


def _failed(argv: tuple[str, ...], why: str, token: str) -> ProcResult:
    return ProcResult(argv, None, None, False, 0.0, "", "", 0, 0, launch_error=why, token=token)


def _pump(
    proc: subprocess.Popen[bytes],
    out: BoundedOutput,
    err: BoundedOutput,
    deadline: float,
    on_timeout: Callable[[int], str | None] | None,
    output_limit: int | None,
) -> tuple[bool, bool, str | None]:
    """Read both pipes until the leader exits, or the deadline passes.

    Returns (timed_out, output_limited, note).  Once the leader has exited it
    reads only what is already in the pipes: a descendant that still holds a
    pipe open is a leftover, killed by the sweep, and never waited for.
    """
    assert proc.stdout is not None and proc.stderr is not None
    sinks = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    sel = selectors.DefaultSelector()
    for fd in sinks:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    pidfd = -1
    try:
        pidfd = os.pidfd_open(proc.pid)  # type: ignore[attr-defined]
        sel.register(pidfd, selectors.EVENT_READ)
    except (AttributeError, OSError):
        pidfd = -1  # no pidfd: poll the leader every 20 ms instead
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                note = None
                if on_timeout is not None and proc.poll() is None:
                    try:
                        note = on_timeout(proc.pid)
                    except Exception as exc:  # a failing helper never takes the run down
                        note = f"on_timeout failed: {exc!r}"
                return True, False, note
            wait = deadline - now if pidfd >= 0 else min(deadline - now, 0.02)
            exited = False
            for key, _ in sel.select(wait):
                if key.fd == pidfd:
                    exited = True
                    continue
                data = read_ready(key.fd)
                if data is None:
                    continue
                if not data:
                    sel.unregister(key.fd)
                    sinks.pop(key.fd)
                    continue
                sinks[key.fd].feed(data)
                if output_limit is not None and out.total + err.total > output_limit:
                    return False, True, None
            if exited or (pidfd < 0 and proc.poll() is not None):
                _drain_now(sinks)
                return False, False, None
    finally:
        if pidfd >= 0:
            os.close(pidfd)
        sel.close()


def _drain_now(sinks: dict[int, BoundedOutput]) -> None:
    for fd, sink in list(sinks.items()):
        for _ in range(64):
            try:
                data = os.read(fd, CHUNK)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            sink.feed(data)


def _drain(proc: subprocess.Popen[bytes], out: BoundedOutput, err: BoundedOutput) -> None:
    """Read what is left in the pipes once every writer is dead (bounded, non-blocking)."""
    assert proc.stdout is not None and proc.stderr is not None
    _drain_now({proc.stdout.fileno(): out, proc.stderr.fileno(): err})
