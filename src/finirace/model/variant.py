"""What a model variant is: one CPython behaviour era, as a handful of switches.

Why switches and not subclasses: the variants differ in a few places of the
same C functions (who reads what first in ``take_gil``, what a thread that must
not run does, when finalization frees the other thread states).  The model's
operations (:mod:`finirace.model.gil`, :mod:`~finirace.model.pystate`,
:mod:`~finirace.model.lifecycle`, :mod:`~finirace.model.threads`) read these
fields where the C code of the eras differs.

A variant is the one place an era lives: its name, the CPython versions it
covers, what it is, the source it follows, and the fate of a late thread that
``finirace audit`` prints.  Each one is written as the change from the era
before it (:meth:`Variant.then`), so its module shows only what differs, and
names that predecessor (``follows``), which is how the registry
(:mod:`finirace.model.variants`) orders them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Callable, Iterable

# What describes an era rather than how it behaves: given anew by every variant.
DESCRIPTION = ("name", "title", "versions", "released", "summary", "refs", "source")


@dataclass(frozen=True)
class Fate:
    """What finalization does to a daemon thread that wants the GIL back (``finirace audit``)."""

    daemon: str  # "killed with pthread_exit in take_gil"
    cxx: str = ""  # added when C++ frames are on its stack ("" when C++ makes no difference)

    def text(self, cxx: bool) -> str:
        return f"{self.daemon}; {self.cxx}" if cxx and self.cxx else self.daemon


@dataclass(frozen=True)
class Variant:
    name: str
    title: str  # "pthread_exit era"
    versions: str  # "3.9–3.13"; for a model-only variant, what it is ("bpo-33608 proposal (unreleased)")
    released: tuple[tuple[int, int], ...]  # (major, minor) releases it models; () = model only
    summary: str
    refs: tuple[str, ...]
    source: str  # the C code it follows: CPython branches, or the proposal
    fate: Fate
    follows: str | None = None  # the era before it (None: the first)
    # PyEval_RestoreThread reads tstate->interp->runtime before take_gil (the late-2019 branch)
    restore_reads_tstate: bool = False
    # bpo-33608 proposal: threads hold struct {PyThreadState *ts;}, finalization nulls ts
    wrapper: bool = False
    # bpo-39877: take_gil asks whether to give up on entry and each time its wait on the GIL's
    # condition times out; it asks the runtime (_PyRuntime._finalizing), not the tstate, until
    # tstate_refcounts (3.14) makes _PyThreadState_MustExit read tstate->state
    take_gil_checks_runtime: bool = False
    # take_gil reads tstate->interp before waiting (3.9+: the GIL hangs off the interpreter)
    take_gil_reads_tstate: bool = False
    # what a thread that must not run any more does: "exit" (PyThread_exit_thread) or
    # "hang" (PyThread_hang_thread, gh-87135)
    late_thread: str = "exit"
    # Py_FinalizeEx frees the other thread states right after setting _finalizing
    # (_PyThreadState_DeleteExcept, 3.9+) instead of in zapthreads at the very end
    frees_others_early: bool = False
    # gh-124619: PyGILState_Ensure with no interpreter parks the thread instead of crashing
    ensure_parks_without_interp: bool = False
    # PEP 788 as merged (gh-149101, PR #149116): interpreter guards.  make_pre_finalization_calls
    # closes them (CAS 0 -> _PyInterpreterGuard_GUARDS_NOT_ALLOWED) only once none is held, and
    # waits with its thread state detached (GIL released) while some are; without them
    # guard/unguard are no-ops
    guards: bool = False
    # gh-104690: threading refuses to start a thread once the interpreter is finalizing
    refuses_thread_start: bool = False
    # bpo-45953 (3.11+): the main interpreter (and its first thread state) live inside _PyRuntime;
    # free_interpreter: "The main interpreter is statically allocated so should not be freed".
    # Reads through tstate->interp after finalization read static memory, not a freed block
    static_main_interp: bool = False
    # 3.9+ new_threadstate starts with `_PyRuntimeState *runtime = interp->runtime;` (a stale
    # interp is read at once); 3.6–3.8 use the global runtime and touch interp only under
    # HEAD_LOCK (`tstate->next = interp->tstate_head`), after taking the runtime's lock
    new_threadstate_reads_interp_first: bool = False
    # what _PyRuntime_Finalize (the end of Py_FinalizeEx) leaves that new_threadstate trips on when
    # a thread makes a state afterwards: "locks" (up to 3.12 _PyRuntimeState_Fini frees the
    # runtime's PyThread locks: HEAD_LOCK on a NULL lock, SIGSEGV), "tss" (3.13: the locks are
    # static PyMutex, but the gilstate TSS key is deleted: bind_gilstate_tstate's
    # gilstate_tss_set fails, fatal error), "" (3.14+: only gilstate_clear(); nothing trips)
    runtime_fini: str = "locks"
    # gh-104341 (3.12+): PyInterpreterState_Delete releases the GIL before zapthreads
    # (3.12 _PyEval_ReleaseLock(interp, NULL), 3.13+ _PyThreadState_Detach(tcur)); before, the
    # finalizer kept it locked to the end
    releases_gil_before_zapthreads: bool = False
    # gh-124878, PR #130649 (3.14+): thread states are refcounted (the interpreter's list and the
    # OS thread hold one each); _Py_Finalize marks the states _PyThreadState_RemoveExcept took off
    # the list _Py_THREAD_SHUTTING_DOWN and _PyThreadState_DeleteList clears and decrefs them;
    # _PyThreadState_MustExit reads tstate->state (not _PyRuntime._finalizing);
    # _PyThreadState_HangThread drops the thread's reference before PyThread_hang_thread.
    # zapthreads still frees whatever is linked, ignoring the count
    tstate_refcounts: bool = False
    # 3.6: the GIL is made on first use (PyEval_InitThreads, from PyGILState_Ensure's new-state
    # path and thread_PyThread_start_new_thread), never by Py_Initialize, which destroys the
    # previous runtime's GIL (_PyEval_FiniThreads).  While none exists, PyEval_SaveThread and
    # PyEval_RestoreThread only swap _PyThreadState_Current: no take_gil, no _Py_Finalizing check
    lazy_gil: bool = False
    # 3.9–3.10: thread_run (t_bootstrap) calls _PyThreadState_Init(tstate), which reads
    # tstate->interp, before PyEval_AcquireThread's take_gil asks whether to give up; 3.11.7 and
    # 3.12+ ask _PyThreadState_MustExit first (3.11.2 still read first: Debian's 3.11.2-debug)
    thread_run_reads_tstate: bool = False
    # Py_FinalizeEx with sub-interpreters still alive: "leak" (3.6: only the main interpreter is
    # deleted, the others stay usable), "fatal" (3.7–3.12: PyInterpreterState_Delete of the main
    # one, after zapthreads: Py_FatalError("remaining subinterpreters")), "end" (3.13+:
    # finalize_subinterpreters deletes each one's head thread state and ends it)
    subinterpreters_at_exit: str = "leak"
    # 3.12+ (PEP 684's groundwork): thread-state swaps go through the shared GIL: new_interpreter
    # detaches the caller's state (the GIL is released) and init_interp_create_gil takes it for the
    # new one; PyThreadState_Swap releases and takes it (_PyEval_ReleaseLock/_PyEval_AcquireLock,
    # 3.13+ _PyThreadState_Detach/_Attach).  Before, a swap only changed the current state
    swap_takes_gil: bool = False
    # what Py_NewInterpreter says when the runtime is not initialized (new_interpreter)
    new_interp_uninitialized: str = "Py_NewInterpreter: call Py_Initialize first"
    # a variant written outside the package (``--variant-file``): C functions whose atomic steps
    # it replaces, as (function, patch) pairs; patch(variant, steps) -> Program gets the era's
    # own steps of one call of that function (model/patch.py applies them)
    patches: tuple[tuple[str, Callable], ...] = ()

    def then(self, *, name: str, title: str, versions: str, released: tuple[tuple[int, int], ...],
             summary: str, refs: tuple[str, ...], source: str, fate: Fate | None = None,
             **changes: object) -> "Variant":
        """The era after this one: described anew, behaving as this one but for ``changes``.

        ``fate`` is kept unless given.  A change must name a switch and differ from
        this era's value, so a variant's module lists exactly what differs.
        """
        switches = {f.name for f in fields(self)} - set(DESCRIPTION) - {"fate", "follows"}
        for key, value in changes.items():
            if key not in switches:
                raise TypeError(f"variant {name!r}: {key!r} is not a switch of Variant")
            if getattr(self, key) == value:
                raise ValueError(f"variant {name!r}: {key}={value!r} is what {self.name!r} already does")
        return replace(self, name=name, title=title, versions=versions, released=released, summary=summary,
                       refs=refs, source=source, fate=fate or self.fate, follows=self.name, **changes)

    def changes(self, before: "Variant | None") -> dict[str, object]:
        """The switches that differ from ``before`` (from the defaults when None)."""
        skip = set(DESCRIPTION) | {"fate", "follows"}
        out = {}
        for f in fields(self):
            if f.name in skip:
                continue
            old = getattr(before, f.name) if before is not None else f.default
            if getattr(self, f.name) != old:
                out[f.name] = getattr(self, f.name)
        return out


def in_era_order(variants: Iterable[Variant]) -> dict[str, Variant]:
    """The variants by name, each after the one it follows; ValueError when they make no single line."""
    by_follows: dict[str | None, Variant] = {}
    names: set[str] = set()
    for v in variants:
        if v.name in names:
            raise ValueError(f"two variants are named {v.name!r}")
        names.add(v.name)
        other = by_follows.get(v.follows)
        if other is not None:
            what = f"follow {v.follows!r}" if v.follows else "come first (follows nothing)"
            raise ValueError(f"variants {other.name!r} and {v.name!r} both {what}")
        by_follows[v.follows] = v
    ordered: dict[str, Variant] = {}
    current = by_follows.get(None)
    while current is not None:
        ordered[current.name] = current
        current = by_follows.get(current.name)
    lost = sorted(names - set(ordered))
    if lost:
        raise ValueError(f"variants follow one that is not there: {', '.join(lost)}")
    return ordered
