"""Bringing daemon threads to a safe point before ``Py_FinalizeEx`` can kill them.

Why this works.  ``Py_FinalizeEx`` (3.8 to 3.13) first joins the non-daemon
threads (``wait_for_thread_shutdown``, which calls ``threading._shutdown``),
then runs the ``atexit`` handlers (``call_py_exitfuncs``, 3.8;
``_PyAtExit_Call``, 3.9+), and only then marks the runtime as finalizing
(``_PyRuntimeState_SetFinalizing``).  A daemon thread that takes the GIL back
before that mark just runs on; one that takes it back after the mark is
killed inside ``take_gil`` (``pthread_exit`` on 3.9 to 3.13: ``std::terminate``
through a C++ ``noexcept`` frame; blocked for ever on 3.8; parked on 3.14).
So the guard's ``atexit`` handler, which runs in that window, asks every
daemon thread to stop (or park) at its next bytecode boundary with
``PyThreadState_SetAsyncExc``, and then waits with the GIL released: a
thread running Python gets the exception at once; a thread inside a C or
C++ call finishes that call (it takes the GIL back while finalization has
not begun, so nothing kills it) and gets the exception as soon as the eval
loop checks its eval breaker, right after the call returns.

Stop raises ``SystemExit``: the thread unwinds, its ``finally`` and
``with`` blocks run, ``threading`` ends it quietly (its excepthook ignores
exactly ``SystemExit``, so not a subclass).  Park
raises :class:`GuardPark`, whose constructor never returns: it blocks the
thread's signals and sleeps for ever with the GIL released, holding what
it holds.  CPython creates the exception object at the raise on 3.12+, and
on 3.8 to 3.11 when it reaches the innermost frame with a handler, before
that handler runs: either way no ``finally`` block runs.

The wait is bounded.  A thread that neither ended nor parked when the bound
runs out is named on stderr with its Python stack, and finalization goes on
as it would have without the guard.  Threads waiting in ``threading``'s own
primitives (``Condition.wait``, ``Event.wait``, ``queue.get``, ``join``)
are told too but not waited for: they sleep until someone wakes them, and if
that happens after finalization only C frames of CPython are on their stack.

Only the standard library, no annotations evaluated at run time, Python 3.8
syntax: a program on any interpreter 3.8+ loads this module at its start.
"""

from __future__ import annotations

import sys

# idents of threads parked by GuardPark (set.add is atomic under the GIL)
_parked = set()
_PARK_SECONDS = 86400.0
# threading's blocking waits: Condition.wait (Event, Semaphore, Barrier, queue
# get and put wait in it), Thread.join (3.8-3.12: _wait_for_tstate_lock)
_THREADING_WAITS = frozenset(("wait", "_wait_for_tstate_lock", "join"))


class GuardPark(SystemExit):
    """Raised in a daemon thread by the exit guard: its creation parks the thread for ever."""

    def __init__(self, *args):
        SystemExit.__init__(self, *args)
        park()


def park():
    """Block the calling thread for ever with the GIL released, deaf to signals.

    ``time.sleep`` releases the GIL and touches no Python object while it
    sleeps; with every signal blocked in this thread no handler wakes it
    early.  It never takes the GIL back before the process is gone.
    """
    import _thread
    import signal
    import time

    _parked.add(_thread.get_ident())
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    except (AttributeError, OSError, ValueError):  # not on every platform
        pass
    while True:
        time.sleep(_PARK_SECONDS)


class Outcome:
    """What the guard did at one exit (read by tests and the verbose line)."""

    __slots__ = ("told", "ended", "parked", "idle", "late", "waited")

    def __init__(self, told, ended, parked, idle, late, waited):
        self.told = told  # threads sent the exception
        self.ended = ended  # ... that ended within the bound
        self.parked = parked  # ... that parked within the bound
        self.idle = idle  # ... waiting in threading's primitives: not waited for
        self.late = late  # ... neither: named on stderr
        self.waited = waited  # seconds spent waiting


def _send(ident, exc_type):
    """``PyThreadState_SetAsyncExc(ident, exc_type)``: 1 when a thread state took it."""
    import ctypes

    f = ctypes.pythonapi.PyThreadState_SetAsyncExc
    f.argtypes = (ctypes.c_ulong, ctypes.py_object)
    f.restype = ctypes.c_int
    return f(ident, exc_type)


def _idle(frame, threading_file):
    """True when the thread's innermost Python frame is a blocking wait inside ``threading``."""
    if frame is None:
        return False
    code = frame.f_code
    return code.co_filename == threading_file and code.co_name in _THREADING_WAITS


def daemon_threads(threading):
    """The daemon threads that ``threading`` started and that are still alive, main excluded."""
    me = threading.current_thread()
    dummy = getattr(threading, "_DummyThread", ())
    return [
        t for t in threading.enumerate()
        if t is not me and t.daemon and not isinstance(t, dummy) and t.is_alive() and t.ident is not None
    ]


def bring_to_safe_point(mode, timeout, out=None):
    """Tell every daemon thread to stop or park; wait for them, at most ``timeout`` seconds.

    Returns an :class:`Outcome`, or ``None`` when ``threading`` was never
    imported (no thread it could have started).  Runs in the thread that
    finalizes, with the GIL; sleeps release it.
    """
    threading = sys.modules.get("threading")
    if threading is None:
        return None
    targets = daemon_threads(threading)
    if not targets:
        return Outcome((), (), (), (), (), 0.0)
    import time

    # plain SystemExit: threading's excepthook ignores exactly that type, quietly
    exc_type = GuardPark if mode == "park" else SystemExit
    told = [t for t in targets if _send(t.ident, exc_type)]
    threading_file = threading.__file__
    start = time.monotonic()
    deadline = start + timeout
    delay = 0.0005
    # the first look comes after one sleep: a thread just woken from a wait in
    # threading (it needs the GIL to leave it) is then seen running, not idle
    time.sleep(min(delay, timeout))
    while True:
        frames = sys._current_frames()
        live = [t for t in told if t.is_alive() and t.ident not in _parked]
        busy = [t for t in live if not _idle(frames.get(t.ident), threading_file)]
        now = time.monotonic()
        if not busy or now >= deadline:
            break
        time.sleep(min(delay, deadline - now))  # the GIL is released: they run
        delay = min(delay * 2, 0.005)
    waited = time.monotonic() - start
    idle = [t for t in live if t not in busy]
    pending = busy
    ended = tuple(t for t in told if not t.is_alive())
    parked = tuple(t for t in told if t.ident in _parked)
    outcome = Outcome(tuple(told), ended, parked, tuple(idle), tuple(pending), waited)
    if pending:
        report_late(outcome, timeout, sys._current_frames(), out or sys.stderr)
    return outcome


def report_late(outcome, timeout, frames, out):
    """Name the threads still outside a safe point, with where they were, on ``out``."""
    import traceback

    late = outcome.late
    lines = [
        "finirace guard: %d daemon thread(s) not at a safe point after %.1f s; "
        "finalization goes on as without the guard:" % (len(late), timeout)
    ]
    for t in late:
        lines.append("  %s (daemon), still inside a call (C or Python) at:" % (t.name,))
        frame = frames.get(t.ident)
        stack = traceback.format_stack(frame) if frame is not None else ["  (no Python frame)\n"]
        for entry in stack[-6:]:
            lines.extend("    " + line for line in entry.rstrip("\n").splitlines())
    out.write("\n".join(lines) + "\n")
    try:
        out.flush()
    except Exception:
        pass
