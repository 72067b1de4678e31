"""The exit guard: bring daemon threads to a safe point before finalization can kill them.

``finirace.guard.install()`` at the start of a program; at exit, before
``Py_FinalizeEx`` begins finalizing, every daemon thread is stopped (or
parked) at its next bytecode boundary, a thread inside a C or C++ call once
that call returned, within a bound.  See ``docs/fixing-applications.md``.

Import-light on purpose (a program imports it at start): nothing beyond
``atexit``, ``os`` and ``sys`` until the exit; Python 3.8 syntax, stdlib only.
"""

from finirace.guard.exit import DEFAULT_TIMEOUT, MODES, install, installed, uninstall

__all__ = ["DEFAULT_TIMEOUT", "MODES", "install", "installed", "uninstall"]
