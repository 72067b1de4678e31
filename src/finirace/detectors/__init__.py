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
same backtraces from a running (hung) process.
:func:`finirace.detectors.classify.classify` is the one place a finished
process becomes a :class:`~finirace.outcome.RunKind`.

Frames stay strings and native stacks; mapping them to scenario steps is the
caller's job (the lab knows its markers, stress does not).

Which detectors exist and what each can do is :mod:`finirace.detectors.registry`.
This package imports its modules only when one of their names is asked for
(PEP 562), so that reading the registry (``finirace stress --help`` builds its
choices from it) costs no more than the table itself.  ``classify`` is not
re-exported: a lazily exported function named like its module would turn into
the module once anything imports that module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from finirace.detectors.registry import REGISTRY, DetectorSpec, spec

if TYPE_CHECKING:
    from finirace.detectors.base import Detector

_LAZY = {
    "Detection": "base", "Detector": "base", "Prepared": "base",
    "NativeFrame": "backtrace", "NativeThread": "backtrace", "attach_backtraces": "backtrace",
    "parse_backtraces": "backtrace",
    "python_tracebacks": "classify", "reason_from_output": "classify",
    "GdbDetector": "gdb",
    "AssertDetector": "plain", "PlainDetector": "plain", "PymallocDebugDetector": "plain",
    "ValgrindDetector": "valgrind", "parse_valgrind_xml": "valgrind",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def get(name: str) -> Detector:
    """A fresh detector called ``name``; ``KeyError`` names the known ones."""
    return spec(name).create()


__all__ = ["REGISTRY", "DetectorSpec", "get", "spec", *_LAZY]
