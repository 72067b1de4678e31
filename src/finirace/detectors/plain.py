"""The two detectors that only set the environment: plain, and Python's debug allocator."""

from __future__ import annotations

from finirace.detectors.base import Detector


class PlainDetector(Detector):
    """Runs the command as it is: signals, aborts and time-outs only."""

    name = "plain"


class PymallocDebugDetector(Detector):
    """``PYTHONMALLOC=debug``: freed blocks are filled with 0xdb, bad frees are fatal.

    Why: a read of a freed thread state then sees garbage at once (a crash
    or a fatal error) instead of plausible stale values that let the run
    pass; it costs little, unlike valgrind.
    """

    name = "pymalloc-debug"
    slowdown = 1.5

    def environment(self) -> dict[str, str]:
        return {"PYTHONMALLOC": "debug"}


class AssertDetector(Detector):
    """A plain run of a debug build (``Py_DEBUG``): a failed assertion aborts with its text.

    Why its own detector: it watches nothing more than ``plain``, but it needs
    an interpreter with assertions compiled in, and the lab must say so
    instead of running a release build and calling the run clean.
    """

    name = "assert"
