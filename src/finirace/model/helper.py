"""The guard helper ``finirace_guard.h`` as atomic steps, on top of any era.

The model checks the header's own logic, not an idealised guard: each atomic step
below is one atomic operation (or one call into CPython) of the header's C
functions, named after them, and the CPython calls inside (``PyGILState_Ensure``,
``PyEval_SaveThread``, ``PyEval_RestoreThread``, ``PyGILState_Release``) are the
era's own programs (:mod:`finirace.model.pystate`).  The state is
:class:`~finirace.model.world.Helper` (the header's static ``FiniRaceState_``,
shared name ``helper``) and the thread's locals in
:class:`~finirace.model.world.ThreadRec` (``fr_*``).

Steps a scenario can use (docs/scenarios.md):

* ``fr_setup``: ``FiniRace_Setup`` registers the atexit callback (GIL held);
* ``fr_guard`` / ``fr_unguard``: ``FiniRaceGuard_FromView`` / ``_Close``;
* ``fr_ensure`` / ``fr_release``: ``FiniRace_EnsureFromView`` / ``FiniRace_Release``;
* ``fr_save`` / ``fr_restore``: ``FiniRace_BeginAllowThreads`` / ``EndAllowThreads``.

Acquire is two atomic steps (``held += 1``, then the gate is read: the Dekker pair
the header's safety rests on), and so is the entry into ``PyEval_RestoreThread``
/ ``PyGILState_Ensure`` (``entering += 1``, then ``phase`` is read).  A helper
call that reports failure sets the thread's ``fr_failed``: the scenario's C code
skips every later CPython call (:func:`skip_when_failed`), and a threading thread
whose "end" failed is parked (``FiniRace_ParkThread``), as C code called from
Python must be.

The atexit callback (``finirace_at_exit_``) runs inside ``Py_FinalizeEx`` before
anything is torn down, when ``FiniRace_Setup`` registered it in this runtime: close
the gate; if guards are held, release the GIL and wait, where the bound may run
out at any moment (the wait step is always enabled: its firing with guards still
held *is* the timeout); mark the interpreter gone; wait (GIL released, no bound)
for the threads inside their entry window; take the GIL back; go on finalizing.

The callback's own steps are :mod:`finirace.model.helper_atexit`.
Under ``guards`` (3.15) the header's names are PEP 788's, so these steps are the
era's guards (:func:`finirace.model.threads.guard`) around the plain calls.
Simplification: the finalizer takes the GIL back in one step (a waiter that is
not finalizing, whose state is alive: no exit check can fire).
"""

from __future__ import annotations

from finirace.model import guards, pystate
from finirace.model.hashed import evolve
from finirace.model.program import Ctx, Instr, Program, call, instr
from finirace.model.variant import Variant

OPEN, CLOSED, GONE = 0, 1, 2


def _h(c: Ctx, **fields) -> None:
    c.write("helper")
    c.helper = evolve(c.helper, **fields)


def _fail(c: Ctx, what: str) -> None:
    c.set_me(fr_failed=True)
    c.note = what


def then(program: Program, label: str) -> Program:
    """The program with every "step done" turned into a jump to ``label``: the header's
    code after a CPython call runs whichever way that call returned."""
    def wrap(ins: Instr) -> Instr:
        def run(c: Ctx) -> None:
            ins.run(c)
            if c.step_done and c.end is None:
                c.step_done = False
                c.goto(label)
        return evolve(ins, run=run, blocked=None)  # another run: Instr.blocked mirrored the old one
    return tuple(wrap(i) for i in program)


def skip_when_failed(program: Program, kind: str) -> Program:
    """A CPython call of the scenario: skipped once a helper call of the thread failed
    (``if (!fr_failed) ...`` in the generated C).  Costs no atomic step of its own."""
    first, *rest = program

    def run(c: Ctx) -> None:
        if c.me.fr_failed:
            c.note = f"skipped: a helper call failed, no {kind}"
            c.finish()
            return
        first.run(c)
    return (evolve(first, run=run, blocked=None), *rest)  # fr_failed: it does not wait


# -- FiniRace_Setup ---------------------------------------------------------------

def _setup(c: Ctx) -> None:
    # FiniRace_Setup: CAS setup NONE -> BUSY; refuse while finalizing or once the gate
    # closed; atexit.register(finirace_at_exit_) (a Python call: needs the GIL)
    c.read("helper", "runtime")
    h = c.helper
    if h.registered is not None:
        c.note = "already set up"
    elif c.me.tstate is None or not c.holds_gil():
        c.crash("PyImport_ImportModule")  # a Python call without an attached thread state
    elif c.rt.finalizing is not None or not c.rt.initialized or h.phase != OPEN:
        c.note = "RuntimeError: the interpreter is finalizing (no callback registered)"
    else:
        _h(c, registered=c.rt.generation)
        c.note = "atexit.register(finirace_at_exit_)"
    c.finish()


def setup(v: Variant) -> Program:
    if v.guards:
        return (instr("FiniRace_Setup", _nothing("PEP 788: nothing to set up"), "FiniRace_Setup"),)
    return (instr("FiniRace_Setup", _setup, "FiniRace_Setup"),)


def _nothing(note: str):
    def run(c: Ctx) -> None:
        c.note = note
        c.finish()
    return run


# -- acquire / release: finirace_acquire_, finirace_release_ -----------------------

def _acquire(kind: str, from_current: bool = False, where: str = "finirace_acquire_") -> Program:
    """finirace_acquire_ as its two atomic steps: finalization can close the gate between them."""
    return (instr("finirace_acquire_.count", _acquire_count(kind, from_current), where),
            instr("finirace_acquire_.gate", _acquire_gate(kind), where))


def _acquire_count(kind: str, from_current: bool):
    def run(c: Ctx) -> None:
        # if (setup != DONE) refuse; __atomic_add_fetch(&held, 1)
        c.read("helper")
        if c.helper.registered is None and from_current and c.me.tstate is not None and c.holds_gil():
            _setup(c)  # FiniRaceGuard_FromCurrent sets up on first use
            c.step_done = False
        if c.helper.registered is None:
            _refused(c, kind, "not set up: refused")
            return
        _h(c, held=c.helper.held + 1)
        c.note = f"held = {c.helper.held}"
    return run


def _acquire_gate(kind: str):
    def run(c: Ctx) -> None:
        # if (phase != OPEN) { __atomic_add_fetch(&held, -1); refuse }
        c.read("helper")
        if c.helper.phase != OPEN:
            _h(c, held=c.helper.held - 1)
            _refused(c, kind, "the gate is closed: refused")
            return
        _granted(c, kind)
    return run


def _refused(c: Ctx, kind: str, note: str) -> None:
    if kind == "guard":
        c.set_me(fr_guards=c.me.fr_guards + (False,))
        _fail(c, note)
    elif kind == "token":
        c.set_me(fr_tokens=c.me.fr_tokens + (False,))
        _fail(c, note)
    else:
        _begin_refused(c, note)
        return
    c.finish()


def held_here(c: Ctx) -> int:
    """``finirace_held_here_``: the guards this thread holds, of any kind."""
    me = c.me
    return sum(me.fr_guards) + sum(me.fr_tokens) + sum(1 for a in me.fr_allows if a[1])


def _begin_refused(c: Ctx, note: str) -> None:
    # FiniRace_BeginAllowThreads without a guard of its own: doomed when finalization began
    # (the callback ran) in a thread holding no guard; with one, it goes on under it;
    # otherwise (no setup, or the finalizer itself) the GIL is kept
    c.read("helper")
    late = c.helper.phase != OPEN and c.helper.finalizer != c.name
    if held_here(c) > 0:
        c.set_me(fr_allows=c.me.fr_allows + ((True, False, False),))
        c.note = note + "; goes on under the guard it holds"
    elif late:
        c.set_me(fr_allows=c.me.fr_allows + ((True, False, True),))
        c.note = note + "; no guard held, finalization began: doomed, its end will fail"
    else:
        c.set_me(fr_allows=c.me.fr_allows + ((False, False, False),))
        c.note = note + "; keeps the GIL"
        c.finish()


def _granted(c: Ctx, kind: str) -> None:
    if kind == "guard":
        c.set_me(fr_guards=c.me.fr_guards + (True,))
        c.note = "holds a guard"
        c.finish()
    elif kind == "token":
        c.note = "holds a guard"
    else:
        c.set_me(fr_allows=c.me.fr_allows + ((True, True, False),))
        c.note = "holds a guard"


def _close(c: Ctx) -> None:
    # FiniRaceGuard_Close: if (guard) __atomic_add_fetch(&held, -1)
    guards = c.me.fr_guards
    held = bool(guards and guards[-1])
    c.set_me(fr_guards=guards[:-1])
    if held:
        c.read("helper")
        _h(c, held=c.helper.held - 1)
        c.note = "closes its guard"
    else:
        c.note = "no guard: nothing to close"
    c.finish()


def guard(v: Variant) -> Program:
    if v.guards:
        return _pep788(v, "guard")
    return call("FiniRaceGuard_FromView", [
        *_acquire("guard"),
    ])


def unguard(v: Variant) -> Program:
    if v.guards:
        return _pep788(v, "unguard")
    return (instr("FiniRaceGuard_Close", _close, "FiniRaceGuard_Close"),)


# -- entering: finirace_enter_, finirace_entered_ ----------------------------------

def _enter_count(c: Ctx) -> None:
    # __atomic_add_fetch(&entering, 1)
    c.read("helper")
    _h(c, entering=c.helper.entering + 1)
    c.note = f"entering = {c.helper.entering}"


def _enter_gate(kind: str):
    def run(c: Ctx) -> None:
        # if (phase == GONE) { entering -= 1; fail }
        c.read("helper")
        if c.helper.phase != GONE:
            c.note = "the interpreter is whole: goes in"
            return
        h = c.helper
        own = kind == "token" or _pop_allow(c)
        _h(c, entering=h.entering - 1, held=h.held - own)
        if kind == "token":
            c.set_me(fr_tokens=c.me.fr_tokens + (False,))
            _fail(c, "the interpreter is gone: attach fails")
            c.finish()
            return
        c.set_me(fr_lost=True)
        _fail(c, "the interpreter is gone: end fails, the thread is detached for good")
        _park_or_return(c)
    return run


def _entered(kind: str):
    def run(c: Ctx) -> None:
        # finirace_entered_: __atomic_add_fetch(&entering, -1) (+ the begin's guard)
        c.read("helper")
        h = c.helper
        if kind == "token":
            _h(c, entering=h.entering - 1)
            c.set_me(fr_tokens=c.me.fr_tokens + (True,))
            c.note = "attached"
        else:
            own = _pop_allow(c)
            _h(c, entering=h.entering - 1, held=h.held - own)
            c.note = "holds the GIL again" + ("; closes the begin's guard" if own else "")
        c.finish()
    return run


def ensure(v: Variant) -> Program:
    """``FiniRace_EnsureFromView``: a guard, the entry window, ``PyGILState_Ensure``."""
    if v.guards:
        return _pep788(v, "ensure")
    attach = then(pystate.ensure(v), "finirace_entered_")
    return call("FiniRace_EnsureFromView", [
        *_acquire("token"),
        instr("finirace_enter_.count", _enter_count, "finirace_enter_"),
        instr("finirace_enter_.gate", _enter_gate("token"), "finirace_enter_"),
        *attach,
        instr("finirace_entered_", _entered("token"), "finirace_entered_"),
    ])


def _release_start(c: Ctx) -> None:
    # FiniRace_Release: NULL: nothing; lost: only the guard; else PyGILState_Release
    tokens = c.me.fr_tokens
    valid = bool(tokens and tokens[-1])
    c.set_me(fr_tokens=tokens[:-1])
    if not valid:
        c.note = "NULL token: nothing to release"
        c.finish()
    elif c.me.fr_lost:
        c.read("helper")
        _h(c, held=c.helper.held - 1)
        c.note = "its state is gone (finirace_lost_): only the guard is let go"
        c.finish()
    else:
        c.note = "PyGILState_Release"


def _release_guard(c: Ctx) -> None:
    c.read("helper")
    _h(c, held=c.helper.held - 1)
    c.note = "lets the attach's guard go"
    c.finish()


def release(v: Variant) -> Program:
    if v.guards:
        return _pep788(v, "release")
    return call("FiniRace_Release", [
        instr("FiniRace_Release", _release_start, "FiniRace_Release"),
        *then(pystate.release(v), "finirace_release_"),
        instr("finirace_release_", _release_guard, "finirace_release_"),
    ])


# -- FiniRace_BeginAllowThreads / FiniRace_EndAllowThreads --------------------------

def save(v: Variant) -> Program:
    if v.guards:
        return _pep788(v, "save")
    return call("FiniRace_BeginAllowThreads", [
        *_acquire("allow", from_current=True, where="FiniRaceGuard_FromCurrent"),
        *pystate.save(v),
    ])


def _end_start(c: Ctx) -> None:
    # FiniRace_EndAllowThreads: a.tstate == NULL (the GIL was kept): nothing to take back;
    # doomed: fail without looking; else the entry window
    allows = c.me.fr_allows
    released, guarded, doomed = allows[-1] if allows else (False, False, False)
    if not released or doomed:
        c.set_me(fr_allows=allows[:-1])
    if not released:
        c.note = "the GIL was kept: nothing to take back"
        c.finish()
        return
    if doomed:
        c.set_me(fr_lost=True)
        _fail(c, "released without a guard after finalization began: end fails")
        _park_or_return(c)
        return
    _enter_count(c)


def _pop_allow(c: Ctx) -> bool:
    """Pop the FiniRaceAllow being ended (kept until now: the restore in between may
    use any scratch field); whether its begin held a guard of its own."""
    allows = c.me.fr_allows
    c.set_me(fr_allows=allows[:-1])
    return bool(allows and allows[-1][1])


def _park_or_return(c: Ctx) -> None:
    if c.me.python:
        # a function called from Python cannot return into it: FiniRace_ParkThread
        c.note += "; FiniRace_ParkThread"
        c.hang_thread()
        return
    c.finish()


def restore(v: Variant) -> Program:
    if v.guards:
        return _pep788(v, "restore")
    return call("FiniRace_EndAllowThreads", [
        instr("finirace_enter_.count", _end_start, "finirace_enter_"),
        instr("finirace_enter_.gate", _enter_gate("allow"), "finirace_enter_"),
        *then(pystate.restore(v), "finirace_entered_"),
        instr("finirace_entered_", _entered("allow"), "finirace_entered_"),
    ])


# -- 3.15: the same names are PEP 788's --------------------------------------------

def _pep_acquire(kind: str):
    def run(c: Ctx) -> None:
        if not guards.take(c):
            _refused(c, kind, "PEP 788: the interpreter is finalizing: refused")
            return
        if kind == "token":
            c.set_me(fr_tokens=c.me.fr_tokens + (True,))
        _granted(c, kind)
    return run


def _pep_pop(field: str):
    def run(c: Ctx) -> None:
        stack = getattr(c.me, field)
        top = stack[-1] if stack else False
        c.set_me(**{field: stack[:-1]})
        live = top if isinstance(top, bool) else top[0]
        if not live:
            c.note = "nothing to undo"
            c.finish()
    return run


def _pep788(v: Variant, kind: str) -> Program:
    """PEP 788 under the header's names: guards the era itself holds finalization off for."""
    acquire = "PyInterpreterGuard_FromView"
    close = instr("PyInterpreterGuard_Close", guards.close, "PyInterpreterGuard_Close")
    if kind == "guard":
        return (instr(acquire, _pep_acquire("guard"), acquire),)
    if kind == "unguard":
        return (instr("FiniRaceGuard_Close", _pep_pop("fr_guards"), "PyInterpreterGuard_Close"), close)
    if kind == "ensure":  # PyThreadState_EnsureFromView: a guard, then attach
        return (instr(acquire, _pep_acquire("token"), acquire), *pystate.ensure(v))
    if kind == "release":  # PyThreadState_Release: detach, then the guard goes
        return (instr("PyThreadState_Release", _pep_pop("fr_tokens"), "PyThreadState_Release"),
                *then(pystate.release(v), close.label), close)
    if kind == "save":  # PyInterpreterGuard_FromCurrent, PyEval_SaveThread
        return (instr("PyInterpreterGuard_FromCurrent", _pep_acquire("allow"), "PyInterpreterGuard_FromCurrent"),
                *pystate.save(v))
    # restore: PyEval_RestoreThread cannot fail while the guard holds finalization off
    return (instr("FiniRace_EndAllowThreads", _pep_pop("fr_allows"), "FiniRace_EndAllowThreads"),
            *then(pystate.restore(v), close.label), close)
