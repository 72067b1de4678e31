"""The no-code way in: install the exit guard when ``FINIRACE_GUARD`` says so.

Imported at interpreter start by the ``finirace-guard.pth`` file that
:mod:`finirace.guard.pth` writes into a site-packages directory, or by the
``sitecustomize.py`` in ``guard/site`` put on ``PYTHONPATH``.  A bad value
gets one line on stderr and the program runs unguarded: a hook read by
every Python start must never stop one from starting.
"""

import sys

from finirace.guard import exit as _exit


def boot():
    try:
        settings = _exit.settings_from_environment()
    except ValueError as exc:
        sys.stderr.write("finirace guard: not installed: %s\n" % (exc,))
        return
    if settings is not None:
        mode, timeout, verbose = settings
        _exit.install(mode, timeout, verbose)


boot()
