"""What one thread alive at finalization is doing, and what could go wrong with it.

The snapshot is taken by the main thread holding the GIL (the audit's hook
waits for gdb without releasing it), so every other thread is either waiting
for the GIL or inside C code that released it.  Its native stack, innermost
first, is read in three parts: the frames inside the innermost eval loop
(what the thread's current C call is doing), the eval loops and Python, and
the frames outside the outermost eval loop (what started the thread).

* **Waiting for the GIL** (a ``take_gil``, ``PyEval_RestoreThread``,
  ``PyGILState_Ensure`` … frame inside the innermost eval loop) or **in the
  garbage collector** is the runtime's own business: not "blocked in C with
  the GIL released".
* **In C with the GIL released** otherwise, when it has such frames: the
  era's fate applies as soon as that call returns.
* **C++ frames** are told by their mangled names (``_Z…``; ``_R…`` and
  ``_ZN…17h<hash>E`` are Rust, which pthread_exit's forced unwind does not
  abort) or, for a stripped library's unnamed frames, by the library linking
  a C++ runtime.  C++ frames inside the innermost eval loop are *under a GIL
  release*: on 3.9–3.13, when the thread takes the GIL back from inside them
  (a callback, a signal check, a destructor), ``pthread_exit`` unwinds
  through them and a ``noexcept`` frame or a ``catch (...)`` that does not
  rethrow turns that into ``std::terminate``, SIGABRT.
* **A library's global lock held** (a ``pthread_mutex_t`` in a library's
  data, found by the hook, owned by this thread): killed (3.9–3.13) or
  parked (3.14) holding it, the thread never releases it, and exit code that
  needs it (a destructor, an ``atexit`` handler) waits for ever.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from finirace.detectors.backtrace import NativeFrame
from finirace.guard.advice import FIX

_EVAL = re.compile(r"^(_PyEval_EvalFrameDefault|PyEval_EvalFrameEx|_PyEval_EvalFrame|_PyEval_Vector|PyEval_EvalCode)$")
_WANTS_GIL = re.compile(r"^(take_gil|PyEval_RestoreThread|PyEval_AcquireThread|PyEval_AcquireLock|PyGILState_Ensure"
                        r"|_PyThreadState_Attach|_PyEval_AcquireLock|tstate_wait_attach|PyThread_hang_thread|drop_gil)$")
_GC = re.compile(r"^(gc_collect_main|gc_collect_with_callback|gc_collect_impl|gc_collect_region|gc_collect_full"
                 r"|gc_collect_young|gc_collect_increment|_PyGC_Collect|_Py_RunGC|PyGC_Collect|collect|collect_with_callback"
                 r"|subtract_refs|move_unreachable|deduce_unreachable|visit_decref|visit_reachable|finalize_garbage)$")
_IDLE = re.compile(r"^(\?\?|_?_?GI_.*|__.*|pthread_.*|futex_.*|do_futex_wait|syscall|PyCOND_.*|PyMUTEX_.*)$")

WAITING_GIL = "waiting for the GIL"
IN_GC = "in the garbage collector"
IN_C = "in C with the GIL released"


@dataclass(frozen=True)
class HeldLock:
    """A ``pthread_mutex_t`` in a library's data that a thread owned at the snapshot."""

    owner: int  # native thread id
    library: str
    name: str  # the global variable holding it, when the symbol table says, else the library and offset


@dataclass(frozen=True)
class ThreadAudit:
    """One thread alive at the start of finalization, and its dangers."""

    name: str
    daemon: bool
    python_stack: tuple[str, ...]
    native_top: tuple[str, ...]  # the native frames inside its innermost eval loop (its current C call), innermost first
    in_c: bool | None  # inside C code outside the eval loop with the GIL released (None: unknown)
    cxx: bool  # C++ frames on its stack
    predictions: tuple[tuple[str, str, str], ...]
    flags: tuple[str, ...]
    fix: str = ""  # the exit guard's line, for a daemon thread in C or C++ at finalization
    ident: int | None = None
    native_id: int | None = None
    state: str = ""  # WAITING_GIL, IN_GC, IN_C, "in Python" or "" (unknown)
    native_stack: tuple[NativeFrame, ...] = ()  # every native frame, innermost first, named and with languages
    languages: tuple[str, ...] = ()  # of its non-Python code, among c++, rust
    locks: tuple[HeldLock, ...] = ()


def eras():
    """The eras of real releases, in order, from the model's registry (each with its fate)."""
    from finirace.model.variants import released

    return released()


def _is_eval(f: NativeFrame) -> bool:
    return bool(_EVAL.match(f.function))


def _state(inner: Sequence[NativeFrame], has_eval: bool) -> str:
    names = [f.function for f in inner]
    if any(_WANTS_GIL.match(n) for n in names):
        return WAITING_GIL
    if any(_GC.match(n) for n in names):
        return IN_GC
    if any(not _IDLE.match(f.function) or f.library for f in inner):
        return IN_C
    return "in Python" if has_eval and not inner else (IN_C if inner else "")


def assess(entry: dict, native: Sequence[NativeFrame] | None, locks: Sequence[HeldLock] = ()) -> ThreadAudit:
    """One thread's audit from what the hook recorded (``entry``) and its native stack (None: gdb gave none)."""
    frames = tuple(native or ())
    first_eval = next((k for k, f in enumerate(frames) if _is_eval(f)), len(frames))
    inner = frames[:first_eval]
    state = _state(inner, first_eval < len(frames)) if native is not None else ""
    in_c: bool | None = (state == IN_C) if native is not None else None
    langs = tuple(sorted({f.language for f in frames if f.language in ("c++", "rust")}))
    cxx = "c++" in langs
    cxx_inner = any(f.language == "c++" for f in inner)
    daemon = bool(entry["daemon"])
    predictions = tuple(
        (v.name, v.versions, v.fate.text(cxx) if daemon else "joined before finalization (non-daemon): finalization waits for it")
        for v in eras()
    )
    flags = []
    if daemon and in_c:
        flags.append("daemon thread blocked in C with the GIL released")
    if daemon and native is None:
        flags.append("daemon thread alive at finalization (native stack unknown)")
    if daemon and cxx_inner and state in (IN_C, WAITING_GIL):
        flags.append("C++ frames under a GIL release: on 3.9-3.13, taking the GIL back from inside them "
                     "(a callback, a signal check) makes pthread_exit unwind through them, and a noexcept frame or a "
                     "catch (...) that does not rethrow aborts the process (std::terminate, SIGABRT)")
    elif cxx:
        flags.append("C++ frames on its stack")
    for lock in locks if daemon else ():  # a non-daemon thread is joined first: it lets go in time
        flags.append(f"holds {lock.name} (a lock of {lock.library}): killed or parked at exit still holding it, "
                     "it never releases it, and exit code that needs it waits for ever")
    if daemon and any("acquire" in f or "lock" in f.lower() for f in entry["python_stack"][-1:]):
        flags.append("holds or waits on a lock the exit path may need")
    # a daemon thread back from a C call and waiting for the GIL is the one take_gil kills (or, on 3.10, reads freed
    # memory for) once finalization starts: the guard lets it in and stops it at its next bytecode, as for one in C
    fix = FIX if daemon and (in_c or state == WAITING_GIL or cxx or locks) else ""
    shown = tuple(str(f.function) + (" (guess)" if f.guess else "") for f in inner[:24])
    return ThreadAudit(entry["name"], daemon, tuple(entry["python_stack"]), shown, in_c, cxx, predictions,
                       tuple(flags), fix, entry.get("ident"), entry.get("native_id"), state, frames, langs, tuple(locks))


__all__ = ["HeldLock", "IN_C", "IN_GC", "ThreadAudit", "WAITING_GIL", "assess", "eras"]
