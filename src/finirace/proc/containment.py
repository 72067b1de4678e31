"""Process containment: find every process a run left, kill it and reap it.

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
  exits at once but leaves a daemon behind is a leftover too.
* A target gets ``SIGKILL`` when finirace itself dies (``PR_SET_PDEATHSIG``),
  so even a ``kill -9`` of finirace leaves no hung target behind.

Known limit: a descendant that both clears its environment and leaves the
session is found only if it is still our child (subreaper) at sweep time.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from typing import Callable

TOKEN_ENV = "FINIRACE_RUN_TOKEN"
PR_SET_CHILD_SUBREAPER = 36


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


def die_with_parent(parent: int) -> Callable[[], None] | None:
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


def track(pid: int) -> None:
    """A target the caller has just started and will wait for itself."""
    with _running_lock:
        _running.add(pid)


def untrack(pid: int) -> None:
    with _running_lock:
        _running.discard(pid)


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


def kill_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to a process group; one already gone is no error."""
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass
