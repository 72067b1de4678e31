"""``finirace audit``: which threads are alive when finalization starts, and what each era does to them.

The target runs once with a ``sitecustomize`` on ``PYTHONPATH`` that wraps
``threading._shutdown`` (the first thing ``Py_FinalizeEx`` does), so the
snapshot is taken at the start of finalization, with the GIL held: every
other thread is either blocked wanting the GIL or in C with it released.
gdb (``-nx -batch``, attached from inside the target at that moment) adds
each thread's native stack, matched by native thread id: best effort.
"""

from __future__ import annotations

import json
import os

import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

from finirace import proc
from finirace.detectors.backtrace import NativeThread, parse_backtraces
from finirace.guard.advice import FIX

_EVAL = ("_PyEval_EvalFrameDefault", "PyEval_EvalFrameEx", "_PyEval_EvalFrame")


@dataclass(frozen=True)
class ThreadAudit:
    """One thread alive at the start of finalization, and its dangers."""

    name: str
    daemon: bool
    python_stack: tuple[str, ...]
    native_top: tuple[str, ...]  # innermost native frames, when gdb could attach
    in_c: bool | None  # inside C code outside the eval loop (None: unknown)
    cxx: bool  # C++ frames on its stack
    predictions: tuple[tuple[str, str, str], ...]
    flags: tuple[str, ...]
    fix: str = ""  # the exit guard's line, for a daemon thread in C or C++ at finalization


@dataclass(frozen=True)
class AuditReport:
    version: tuple[int, ...]
    threads: tuple[ThreadAudit, ...]
    exit: proc.ProcResult
    recorded: bool


def eras():
    """The eras of real releases, in order, from the model's registry (each with its fate)."""
    from finirace.model.variants import released

    return released()


def _native_for(threads: Sequence[NativeThread], native_id: int | None) -> NativeThread | None:
    return next((t for t in threads if native_id is not None and t.lwp == native_id), None)


def _assess(entry: dict, native: NativeThread | None) -> ThreadAudit:
    funcs = native.functions() if native else ()
    top: list[str] = []
    in_c: bool | None = None
    if native:
        for f in funcs:
            if f in _EVAL:
                break
            top.append(f)
        in_c = any(f not in ("??",) and not f.startswith(("__", "pthread_", "take_gil", "PyEval_", "drop_gil", "PyCOND", "PyMUTEX")) for f in top[:8])
    cxx = any("::" in f for f in funcs)
    daemon = bool(entry["daemon"])
    predictions = tuple(
        (v.name, v.versions, v.fate.text(cxx) if daemon else "joined before finalization (non-daemon): finalization waits for it")
        for v in eras()
    )
    flags = []
    if daemon and in_c:
        flags.append("daemon thread blocked in C with the GIL released")
    if daemon and in_c is None:
        flags.append("daemon thread alive at finalization (native stack unknown)")
    if cxx:
        flags.append("C++ frames on its stack")
    if daemon and any("acquire" in f or "lock" in f.lower() for f in entry["python_stack"][-1:]):
        flags.append("holds or waits on a lock the exit path may need")
    fix = FIX if daemon and (in_c or cxx) else ""
    return ThreadAudit(entry["name"], daemon, tuple(entry["python_stack"]), tuple(top[:6]), in_c, cxx, predictions,
                       tuple(flags), fix)


def audit(argv: Sequence[str], timeout: float = 120.0, gdb: bool = True) -> AuditReport:
    """Run a Python program once and report the threads alive when its finalization starts."""
    here = str(resources.files("finirace.audit") / "data")
    with tempfile.TemporaryDirectory(prefix="finirace-audit-") as work:
        out = Path(work) / "audit.json"
        env = dict(os.environ)
        env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["FINIRACE_AUDIT_FILE"] = str(out)
        env["FINIRACE_AUDIT_GDB"] = "1" if gdb else "0"
        result = proc.run(list(argv), env=env, timeout=timeout)
        try:
            data = json.loads(out.read_text())
        except (OSError, ValueError):
            return AuditReport((), (), result, False)
    natives = parse_backtraces(data.get("native", ""))
    threads = tuple(_assess(t, _native_for(natives, t.get("native_id"))) for t in data["threads"])
    return AuditReport(tuple(data["version"]), threads, result, True)


__all__ = ["AuditReport", "ThreadAudit", "audit", "eras"]

