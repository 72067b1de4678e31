"""Detectors: how one run is watched, shared by ``stress`` and ``lab``.

A detector is a small object that wraps a command (argv and environment) so
that a class of fault becomes visible, and then reads the finished process
(:class:`finirace.proc.ProcResult`) into a :class:`Detection`: the run's
:class:`~finirace.outcome.RunOutcome` plus the evidence behind it.

    det = detectors.get("valgrind")
    prepared = det.prepare(argv, env, workdir)
    result = proc.run(prepared.argv, env=prepared.env, timeout=t * det.slowdown)
    detection = det.interpret(prepared, result)

``plain`` changes nothing; ``pymalloc-debug`` sets ``PYTHONMALLOC=debug`` so a
freed block reads as ``0xdb`` bytes and a bad free is a fatal error;
``valgrind`` runs memcheck with XML output (``PYTHONMALLOC=malloc``, or
Python's own allocator hides every error) and turns each error into a
:class:`~finirace.outcome.MemoryErrorReport` with its faulting, free'd and
alloc'd stacks; ``gdb`` runs the program under gdb and takes every thread's
backtrace when it stops on a signal.  :func:`attach_backtraces` takes the
same backtraces from a running (hung) process.  :func:`classify` is the one
place a finished process becomes a :class:`~finirace.outcome.RunKind`.

Frames stay strings and native stacks; mapping them to scenario steps is the
caller's job (the lab knows its markers, stress does not).
"""

from __future__ import annotations

from finirace.detectors.base import Detection, Detector, Prepared
from finirace.detectors.backtrace import NativeFrame, NativeThread, attach_backtraces, parse_backtraces
from finirace.detectors.classify import classify, python_tracebacks, reason_from_output
from finirace.detectors.gdb import GdbDetector
from finirace.detectors.plain import PlainDetector, PymallocDebugDetector
from finirace.detectors.valgrind import ValgrindDetector, parse_valgrind_xml

DETECTORS: dict[str, type[Detector]] = {
    "plain": PlainDetector,
    "pymalloc-debug": PymallocDebugDetector,
    "valgrind": ValgrindDetector,
    "gdb": GdbDetector,
}


def get(name: str) -> Detector:
    """The detector called ``name``; ``KeyError`` names the known ones."""
    try:
        return DETECTORS[name]()
    except KeyError:
        raise KeyError(f"unknown detector {name!r} (known: {', '.join(DETECTORS)})") from None


__all__ = [
    "DETECTORS",
    "Detection",
    "Detector",
    "GdbDetector",
    "NativeFrame",
    "NativeThread",
    "PlainDetector",
    "Prepared",
    "PymallocDebugDetector",
    "ValgrindDetector",
    "attach_backtraces",
    "classify",
    "get",
    "parse_backtraces",
    "parse_valgrind_xml",
    "python_tracebacks",
    "reason_from_output",
]
