"""The exit guard's installation: one ``atexit`` handler, registered once.

Why ``atexit``: it is the last place Python code runs before finalization
begins.  ``Py_FinalizeEx`` joins the non-daemon threads first
(``wait_for_thread_shutdown``), then calls the ``atexit`` handlers, newest
first, then sets the runtime's finalizing mark, after which a daemon thread
taking the GIL back is killed (3.9 to 3.13), blocked (3.8) or parked
(3.14+).  The same order holds from 3.8 to 3.14, so one handler serves every
version.  Because handlers run newest first, a handler registered *before*
:func:`install` runs *after* the guard; install it first thing (the ``.pth``
and ``sitecustomize`` hooks of :mod:`finirace.guard.boot` do it before the
program's own code runs).

Importing this module costs the import of ``atexit`` and ``os``; ``threading``,
``ctypes`` and ``time`` are only imported at exit, and only when ``threading``
was: a program without threads pays nothing more.
"""

from __future__ import annotations

import atexit
import os
import sys

MODES = ("stop", "park")
DEFAULT_MODE = "stop"
DEFAULT_TIMEOUT = 2.0  # seconds the guard waits at most at exit

_settings = None  # (mode, timeout, verbose) while installed
_registered = False
last_outcome = None  # the last exit's safepoint.Outcome (for tests run in-process)


def install(mode=DEFAULT_MODE, timeout=DEFAULT_TIMEOUT, verbose=False):
    """Guard this program's exit: stop (or park) daemon threads before finalization.

    ``mode``: ``"stop"`` raises ``SystemExit`` in each daemon thread at its
    next bytecode boundary (``finally`` blocks run, locks taken with ``with``
    are released); ``"park"`` blocks each one for ever there (nothing of it
    runs again; what it holds stays held).  A thread inside a C call finishes
    it first.  ``timeout``: the most the guard waits, in seconds; threads
    still outside a safe point then are named on stderr.  ``verbose``: one
    line on stderr at exit saying what the guard did.  Calling it again
    changes the settings; the handler is registered once.
    """
    global _settings, _registered
    if mode not in MODES:
        raise ValueError("finirace.guard.install: mode must be one of %s, got %r" % (", ".join(MODES), mode))
    try:
        timeout = float(timeout)
    except (TypeError, ValueError):
        raise ValueError("finirace.guard.install: timeout must be a number of seconds, got %r" % (timeout,)) from None
    if not timeout >= 0:
        raise ValueError("finirace.guard.install: timeout must be 0 or more seconds, got %r" % (timeout,))
    _settings = (mode, timeout, bool(verbose))
    if not _registered:
        atexit.register(_at_exit)
        _registered = True


def uninstall():
    """Turn the guard off (the handler stays registered and does nothing)."""
    global _settings
    _settings = None


def installed():
    """The settings ``(mode, timeout, verbose)`` in force, or ``None``."""
    return _settings


def settings_from_environment(environ=None):
    """``(mode, timeout, verbose)`` from ``FINIRACE_GUARD*``, or ``None`` when it is off.

    ``FINIRACE_GUARD``: ``1``, ``stop`` or ``park`` (``0`` or empty: off);
    ``FINIRACE_GUARD_TIMEOUT``: seconds; ``FINIRACE_GUARD_VERBOSE=1``.
    Raises ``ValueError`` naming the variable when a value is not understood.
    """
    env = os.environ if environ is None else environ
    value = env.get("FINIRACE_GUARD", "").strip().lower()
    if value in ("", "0", "off", "no"):
        return None
    mode = {"1": DEFAULT_MODE, "on": DEFAULT_MODE, "yes": DEFAULT_MODE}.get(value, value)
    if mode not in MODES:
        raise ValueError("FINIRACE_GUARD must be 1, stop or park, got %r" % (value,))
    raw = env.get("FINIRACE_GUARD_TIMEOUT", "").strip()
    try:
        timeout = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise ValueError("FINIRACE_GUARD_TIMEOUT must be a number of seconds, got %r" % (raw,)) from None
    if not timeout >= 0:
        raise ValueError("FINIRACE_GUARD_TIMEOUT must be 0 or more seconds, got %r" % (raw,))
    return mode, timeout, env.get("FINIRACE_GUARD_VERBOSE", "") not in ("", "0")


def _daemons_alive():
    """Whether ``threading`` is imported and some thread other than this one is a daemon."""
    threading = sys.modules.get("threading")
    if threading is None:
        return False
    me = threading.current_thread()
    return any(t.daemon and t is not me for t in threading.enumerate())


def _at_exit():
    global last_outcome
    settings = _settings
    if settings is None:
        return
    mode, timeout, verbose = settings
    if not verbose and not _daemons_alive():
        return  # the common exit: nothing to import, nothing to wait for
    try:
        from finirace.guard.safepoint import bring_to_safe_point

        outcome = bring_to_safe_point(mode, timeout)
    except Exception as exc:  # the guard never turns an exit into a traceback
        sys.stderr.write("finirace guard: could not guard this exit: %r\n" % (exc,))
        return
    last_outcome = outcome
    if verbose:
        if outcome is None:
            sys.stderr.write("finirace guard: no threading, nothing to do\n")
        else:
            sys.stderr.write(
                "finirace guard: %s: %d daemon thread(s) told, %d ended, %d parked, %d idle in threading waits, "
                "%d late, in %.3f s\n"
                % (mode, len(outcome.told), len(outcome.ended), len(outcome.parked), len(outcome.idle),
                   len(outcome.late), outcome.waited)
            )
        sys.stderr.flush()
