"""A thread's move from a world, and every thread's moves from a state at once.

A move is one atomic step (:mod:`finirace.model.program`) run on a scratch
context: the thread's record moved on to where its step sends it, the new
world, and the :class:`~finirace.model.system.Transition` that says what the
step read and wrote.  The machine binds :func:`attempt` as its ``_attempt``
(one thread) and :func:`expand` as its ``expand`` hook (the sleep-set search's
one ask per state: explore/exhaustive.py).

Why one ask per state: the search used to ask a state's outcome, then which
threads can run, then each thread's move, three passes through the machine's
memo of the last state; a state's moves are asked for once, right after it is
made, so they are computed in one loop, and the outcome of a state that goes on
is known from them (some thread can run).  On the whole catalog under every
era that was a tenth of the search (docs/check.md, Speed).
"""

from __future__ import annotations

from finirace.model.hashed import evolve
from finirace.model.program import Ctx, Fault, NotReady
from finirace.model.system import Transition
from finirace.model.world import DONE, RUN, World
from finirace.outcome import RunOutcome

_set = object.__setattr__  # sets __dict__ whole on a frozen dataclass (hashed.evolve)


def attempt(machine, world: World, ti: int):
    """Thread ``ti``'s move from ``world``: (next world, transition), or None when it cannot run."""
    rec = world.threads[ti]
    if rec.status != RUN or world.fault is not None:
        return None
    got = machine._programs[ti].get(rec.pc)  # program(), its lookup inlined (once per attempt)
    prog, labels, step, functions = got if got is not None else machine.program(ti, rec.pc)
    phase = rec.phase
    ins = prog[phase]
    blocked = ins.blocked
    if blocked is not None and blocked(machine, world, step):
        return None  # it waits, as its run would say (Instr.blocked)
    c = Ctx(machine, world, ti, ins, step)
    try:
        ins.run(c)
    except NotReady:
        if ins.waits is None:  # model/locality.py relies on it: such a step is always ready
            raise RuntimeError(f"model: {ins.label} waits but does not say on what (Instr.waits)")
        return None
    except Fault as f:
        new = c.world()
        outcome = machine._fault_outcome(new, ti, f)
        c.write("process")
        return evolve(new, fault=outcome), transition(c, ins, step, functions[phase])
    if c.end is not None:
        c.advance(status=c.end)  # stays at the step where it ended
    elif c.unwinding:
        c.advance(pc=len(machine._steps[ti]), phase=0)  # thread_run's end: the teardown
    elif c.jump is not None:
        c.advance(phase=labels[c.jump])
    elif c.step_done or phase + 1 >= len(prog):
        n = len(machine._steps[ti])
        pc = rec.pc
        if pc >= n:  # teardown done
            c.advance(status=DONE)
            c.writes.add(f"thread:{c.name}")
        elif pc + 1 < n or (pc + 1 == n and c.threads[ti].python):
            c.advance(pc=pc + 1, phase=0)
            if pc == -1:
                # the bootstrap took the GIL: Thread._bootstrap_inner's self._started.set()
                # (Python code under that GIL, folded in here) lets the starter's start() go
                c.writes.add(f"thread:{c.name}")
        else:
            c.advance(status=DONE, phase=0)
            c.writes.add(f"thread:{c.name}")
            if ti == 0:
                c.writes.add("process")  # main returns: the process exits, every thread stops
    else:
        c.advance(phase=phase + 1)
    return c.world(), transition(c, ins, step, functions[phase])


def transition(c: Ctx, ins, step, function: str) -> Transition:
    """What the step just run did.  Every step reads "process" (Ctx starts with it): one that
    ends the run (a fault, main returning) writes it, so it is never swapped with another
    thread's step.  A search makes one per move, so its fields are set as evolve sets them (a
    frozen dataclass's __init__ goes through object.__setattr__ field by field)."""
    tr = object.__new__(Transition)
    _set(tr, "__dict__", {"thread": c.name, "function": function, "step": step.ref if step is not None else None,
                          "note": c.note, "reads": frozenset(c.reads), "writes": frozenset(c.writes),
                          "label": ins.label})
    return tr


def expand(machine, state: World, asleep, inherited, new: bool) -> tuple[RunOutcome | None, dict]:
    """A state's outcome (asked only when ``new``: None for a state met before) and every
    enabled thread's move from it, by thread name in ``threads`` order; a thread in ``asleep``
    takes its move from ``inherited`` without running it (the optional System hook
    ``expand``).  An ended run has no moves."""
    if new and (state.fault is not None or state.threads[0].status == DONE):
        return machine.outcome(state), {}
    moves = _moves(machine, state, asleep, inherited)
    if new and not moves:
        return machine.outcome(state), moves  # no thread can run: every move is known (None)
    return None, moves  # some thread can run, and main has not returned: the run goes on


def _moves(machine, state: World, asleep, inherited) -> dict:
    """The moves of :func:`expand`, kept as the machine's memo of ``state`` (its ``outcome``,
    ``enabled`` and ``step`` read them) and carried over from the state before where they
    commute with the step that made this one (model/successors.py)."""
    succ = machine._successors
    unknown = machine.UNKNOWN
    if state is machine._memo_world:
        memo, origin = machine._memo, machine._origin
    else:
        memo = [unknown] * len(machine.threads)
        machine._memo_world = state
        machine._memo = memo
        machine._memo_enabled = None
        origin = machine._origin = succ.origin(state) if succ is not None else None
    out = {}
    recs = state.threads
    for ti, t in enumerate(machine.threads):
        if t in asleep:
            out[t] = inherited[t]
            continue
        got = memo[ti]
        if got is not unknown:
            if got is not None:
                out[t] = got
            continue
        if recs[ti].status != RUN:
            memo[ti] = None
            continue
        if origin is not None and ti != origin[2]:
            before = origin[3][ti]
            if before is not None and before is not unknown:  # else carry() would run it too
                got = succ.carry(origin, state, ti)
        if got is unknown:
            got = attempt(machine, state, ti)
        memo[ti] = got
        if got is not None:
            out[t] = got
            if succ is not None:
                succ.made(got[0], state, ti, memo)
    return out
