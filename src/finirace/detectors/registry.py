"""Every detector, once: its name, where its class lives, and what it can do.

Why one table: the lab, stress, the command-line choices and conformance all
ask the same questions of a detector (may the lab use it? stress? does it need
a debug build? can the stress shim run beside it? does it see memory errors?)
and each used to keep its own list of names and its own ``if detector ==``
branches.  Here a detector is one :class:`DetectorSpec`; adding one is a module
with a :class:`~finirace.detectors.base.Detector` subclass and one entry in
:data:`REGISTRY`.

Why names and strings, not classes: ``finirace stress --help`` builds its
choices from this table, and must not import the detectors (``proc``, XML,
gdb's parsers, not even ``dataclasses``) to do so; :meth:`DetectorSpec.create` imports the class when a
run needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from finirace.detectors.base import Detector


class DetectorSpec(NamedTuple):
    """One detector and its capabilities, as the lab, stress and conformance read them.

    A named tuple, not a dataclass: as immutable, and ``dataclasses`` (with
    ``inspect``) would be the heaviest import of ``finirace stress --help``.
    """

    name: str
    summary: str  # one line: what it adds to a run
    factory: str  # "module:Class", imported only when a run needs it
    lab: bool = True  # `finirace lab --detector` offers it
    stress: bool = True  # `finirace stress --detector` offers it
    debug_build: bool = False  # reads a Py_DEBUG interpreter's assertions: a release build cannot run it
    traced: bool = False  # the target runs under a tracer: gdb cannot attach to it, the shim must stay out
    memory_errors: bool = False  # reports an invalid access as a memory-error run, even one that survives it
    all_threads: bool = False  # takes every thread's backtrace itself when the target stops on a signal

    @property
    def shim(self) -> bool:
        """Whether the stress shim (crash backtraces, native delays) may be preloaded beside it."""
        return not self.traced

    def create(self, **options: Any) -> Detector:
        """A fresh detector object of this kind."""
        module, _, cls = self.factory.partition(":")
        return getattr(importlib.import_module(module), cls)(**options)


REGISTRY: tuple[DetectorSpec, ...] = (
    DetectorSpec("plain", "nothing: signals, aborts and time-outs (gdb attaches to a hung run)",
                 "finirace.detectors.plain:PlainDetector"),
    DetectorSpec("pymalloc-debug", "PYTHONMALLOC=debug: a freed block reads as garbage, a bad free is fatal",
                 "finirace.detectors.plain:PymallocDebugDetector"),
    DetectorSpec("valgrind", "memcheck (XML): every invalid read, write or free, with who freed and allocated",
                 "finirace.detectors.valgrind:ValgrindDetector", traced=True, memory_errors=True),
    DetectorSpec("gdb", "the run under gdb: every thread's native backtrace when it stops",
                 "finirace.detectors.gdb:GdbDetector", traced=True, all_threads=True),
    DetectorSpec("assert", "a plain run of a debug build (Py_DEBUG), read for its failed assertion",
                 "finirace.detectors.plain:AssertDetector", stress=False, debug_build=True),
)
_BY_NAME = {d.name: d for d in REGISTRY}


def names(*, lab: bool = False, stress: bool = False) -> tuple[str, ...]:
    """Detector names in registry order; only those the lab (or stress) may use when asked."""
    return tuple(d.name for d in REGISTRY if (d.lab or not lab) and (d.stress or not stress))


def spec(name: str) -> DetectorSpec:
    """The detector called ``name``; ``KeyError`` names the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r} (known: {', '.join(_BY_NAME)})") from None
