"""Run one target process safely: never a shell, always bounded, nothing left behind.

Shared by ``stress`` (user commands) and ``lab`` (generated C programs).  The one
entry point is :func:`run`; it returns a frozen :class:`ProcResult` and never
raises for anything the *target* does (missing command, no run bit, crash, hang,
flood of output, children that outlive it).

How a run is contained, and why:

* The target starts in its own session and process group (``setsid``), so one
  ``killpg`` reaches it and every descendant that did not leave the group.
* Every run gets a fresh marker in its environment, ``FINIRACE_RUN_TOKEN``.  A
  descendant that double-forks and calls ``setsid`` leaves the process group but
  keeps the marker (``/proc/PID/environ`` shows the environment it was started
  with), so a scan of ``/proc/*/environ`` finds it.  Processes in the target's
  session or group are found by ``/proc/PID/stat`` as well, which catches a
  descendant that cleared its environment but stayed in the session.
* On Linux the calling process becomes a *child subreaper*
  (``prctl(PR_SET_CHILD_SUBREAPER)``, once, on first use): an orphaned descendant
  is re-parented to us instead of to init, so once we kill it we can also reap it
  and no zombie remains.  Only pids that this module killed are reaped, never
  another thread's children, so it composes with ``subprocess`` elsewhere.
* The sweep runs after *every* run, not only after a timeout: a target that
  exits at once but leaves a daemon behind is a leftover too, and is counted in
  ``ProcResult.leftovers_killed``.
* Output is read as it comes (``selectors`` on both pipes plus a pidfd for the
  exit) into a :class:`BoundedOutput` that keeps the first and last bytes and
  counts the rest, so 1 GB of output costs 1 GB of reading, never 1 GB of memory.
  Bytes are decoded with ``errors="replace"``: non-UTF-8 output is shown, never
  fatal.
* On timeout an optional callback sees the still-running pid first (to attach
  gdb and take all-thread backtraces), then the group gets ``SIGTERM``, a short
  grace, and ``SIGKILL``.

Known limit: a descendant that both clears its environment and leaves the
session is found only if it is still our child (subreaper) at sweep time.
"""

from __future__ import annotations

import ctypes
import os
import selectors
import signal
import subprocess
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

TOKEN_ENV = "FINIRACE_RUN_TOKEN"
PR_SET_CHILD_SUBREAPER = 36

DEFAULT_HEAD = 16 * 1024
DEFAULT_TAIL = 64 * 1024
_CHUNK = 1 << 20


class BoundedOutput:
    """A byte stream kept as head and tail only, with a count of every byte seen."""

    def __init__(self, head: int = DEFAULT_HEAD, tail: int = DEFAULT_TAIL) -> None:
        self._head_cap = head
        self._tail_cap = tail
        self._head = bytearray()
        self._tail: deque[bytes] = deque()
        self._tail_len = 0
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_cap - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if not data or self._tail_cap <= 0:
            return
        if len(data) >= self._tail_cap:
            self._tail.clear()
            self._tail.append(bytes(data[-self._tail_cap :]))
            self._tail_len = self._tail_cap
            return
        self._tail.append(bytes(data))
        self._tail_len += len(data)
        while self._tail_len - len(self._tail[0]) >= self._tail_cap:
            self._tail_len -= len(self._tail.popleft())
        # invariant: the tail holds at most tail_cap + one chunk; trimmed on text()

    def text(self) -> str:
        """Head and tail, decoded with replacement, with a marker for what was dropped."""
        tail = b"".join(self._tail)
        if len(tail) > self._tail_cap:
            tail = tail[-self._tail_cap :]
        dropped = self.total - len(self._head) - len(tail)
        head = self._head.decode("utf-8", errors="replace")
        if dropped <= 0:
            return head + tail.decode("utf-8", errors="replace")
        mark = f"\n[... {dropped} bytes of output not kept ...]\n"
        return head + mark + tail.decode("utf-8", errors="replace")


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


_subreaper_lock = threading.Lock()
_subreaper_done = False


def become_subreaper() -> bool:
    """Make this process the reaper of orphaned descendants (Linux); once per process."""
    global _subreaper_done
    with _subreaper_lock:
        if _subreaper_done:
            return True
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            ok = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        except (OSError, AttributeError):
            ok = False
        _subreaper_done = ok
        return ok


PR_SET_PDEATHSIG = 1
try:  # loaded here, in the parent: the child between fork and exec must not dlopen
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A pre-exec hook: the target gets SIGKILL if finirace itself dies.

    A campaign killed with ``kill -9`` cannot clean up after itself; without
    this, a hung target would outlive it for ever.  (The run is not lost: it was
    not stored, so a resumed campaign runs it again.)
    """
    if _prctl is None:
        return None

    def hook() -> None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the hook ran
            os._exit(137)

    return hook


def signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"SIG{num}"


def _stat(pid: int) -> tuple[bool, int, int, int] | None:
    """(is_zombie, ppid, pgid, sid) of a process from /proc, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2 :].split()
    try:
        return rest[0] in (b"Z", b"X"), int(rest[1]), int(rest[2]), int(rest[3])
    except (IndexError, ValueError):
        return None


def _scan(token: str, leader: int) -> tuple[set[int], set[int]]:
    """One pass over /proc: (live processes of the run, our zombie children of the run).

    A live process belongs to the run when its group or session is the
    leader's, or its environment holds the run's marker.  A zombie (whose
    environment can no longer be read) belongs to it when it is our child (we
    are its subreaper) and its pid, group or session is the leader's or one
    of a live member's: that is the intermediate of a classic double fork.
    """
    marker = f"{TOKEN_ENV}={token}".encode()
    me = os.getpid()
    live: set[int] = set()
    ids = {leader}
    our_zombies: dict[int, tuple[int, int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return live, set()
    for name in entries:
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == me:
            continue
        st = _stat(pid)
        if st is None:
            continue
        zombie, ppid, pgid, sid = st
        if zombie:
            if ppid == me and pid != leader:
                our_zombies[pid] = (pgid, sid)
            continue
        if pgid == leader or sid == leader:
            member = True
        else:
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    member = marker in f.read().split(b"\0")
            except OSError:
                member = False
        if member:
            live.add(pid)
            ids.update((pgid, sid, ppid))
    zombies = {z for z, (pgid, sid) in our_zombies.items() if z in ids or pgid in ids or sid in ids}
    return live, zombies


def find_members(token: str, leader: int) -> set[int]:
    """Pids of live processes of a run: its marker in their environment, or its session/group."""
    return _scan(token, leader)[0]


def _reap(pids: set[int]) -> None:
    """Collect the zombies of processes of the run that are our children (never others')."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except (ChildProcessError, OSError):
            pass


# Targets being run right now by any thread of this process: our own children,
# told apart from the orphans we adopt as subreaper.
_running: set[int] = set()
_running_lock = threading.Lock()


def _adopted_children(leader: int) -> set[int] | None:
    """Our children that are no running target: orphans adopted as subreaper.

    None when that cannot be known (no subreaper, no ``/proc/*/children``); a
    child forked by another thread but not yet registered only makes the answer
    larger, which costs a full scan, never a missed leftover.
    """
    if not _subreaper_done:
        return None
    kids: set[int] = set()
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children", "rb") as f:
                kids.update(int(x) for x in f.read().split())
    except (OSError, ValueError):
        return None
    with _running_lock:
        known = set(_running)
    return kids - known - {leader}


def _nothing_left(leader: int) -> bool:
    """Whether a run surely left no process, known without scanning all of ``/proc``.

    Once the leader is dead, every live descendant of it was reparented to us
    (we are the subreaper), directly or under an ancestor we adopted: no
    adopted child means no leftover.  That saves a read of every process's
    environment after each of thousands of runs.
    """
    st = _stat(leader)
    if st is not None and not st[0]:
        return False  # the leader itself still runs
    adopted = _adopted_children(leader)
    if adopted is None:
        return False
    for pid in adopted:
        st = _stat(pid)
        if st is None:
            continue
        zombie, _, pgid, sid = st
        # a dead orphan of some other, earlier run is nobody's leftover here
        if not zombie or leader in (pgid, sid):
            return False
    return True


def sweep(token: str, leader: int, rounds: int = 20) -> int:
    """Kill (SIGKILL) every live process of a run until none is left; return how many.

    The leader itself is not reaped here (the caller's ``Popen`` owns it).
    """
    if _nothing_left(leader):
        return 0
    killed: set[int] = set()
    for _ in range(rounds):
        live, zombies = _scan(token, leader)
        _reap(zombies)
        if not live:
            break
        for pid in live:
            try:
                os.kill(pid, signal.SIGSTOP)  # freeze first so a forking loop cannot outrun us
            except OSError:
                pass
        for pid in live:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        killed |= live
        time.sleep(0.002)
        _reap(live - {leader})
    return len(killed - {leader})


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


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
            preexec_fn=_die_with_parent(os.getpid()),
        )
    except FileNotFoundError as exc:
        where = f" (in {cwd})" if cwd and exc.filename != argv[0] else ""
        return _failed(argv, f"command not found: {exc.filename or argv[0]}{where}", token)
    except PermissionError:
        return _failed(argv, f"not executable (no run bit or no access): {argv[0]}", token)
    except OSError as exc:
        return _failed(argv, f"cannot run {argv[0]}: {exc.strerror or exc}", token)

    with _running_lock:
        _running.add(proc.pid)
    out = BoundedOutput(head_bytes, tail_bytes)
    err = BoundedOutput(head_bytes, tail_bytes)
    timed_out = False
    limited = False
    note: str | None = None
    leftovers = 0
    try:
        timed_out, limited, note = _pump(proc, out, err, start + timeout, on_timeout, output_limit)
        if timed_out or limited:
            _kill_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
            _kill_group(proc.pid, signal.SIGKILL)
        # the leader is gone (a zombie still holding its pid, unless killed
        # above); anything else of its group, session or marker is a leftover
        leftovers = sweep(token, proc.pid)
        returncode = proc.wait()
        _drain(proc, out, err)
    finally:
        if proc.returncode is None:  # interrupted (KeyboardInterrupt): still leave nothing
            _kill_group(proc.pid, signal.SIGKILL)
            sweep(token, proc.pid)
            proc.wait()
        with _running_lock:
            _running.discard(proc.pid)
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
                try:
                    data = os.read(key.fd, _CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
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
                data = os.read(fd, _CHUNK)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            sink.feed(data)


def _drain(proc: subprocess.Popen[bytes], out: BoundedOutput, err: BoundedOutput) -> None:
    """Read what is left in the pipes once every writer is dead (bounded, non-blocking)."""
    assert proc.stdout is not None and proc.stderr is not None
    _drain_now({proc.stdout.fileno(): out, proc.stderr.fileno(): err})
