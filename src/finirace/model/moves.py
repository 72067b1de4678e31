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

from finirace.model import ending
from finirace.model.hashed import evolve
from finirace.model.program import Ctx, Fault, NotReady
from finirace.model.system import Transition
from finirace.model.world import DONE, RUN, World
from finirace.outcome import RunOutcome

_set = object.__setattr__  # sets __dict__ whole on a frozen dataclass (hashed.evolve)
# the machine's marks in its memo of a state's moves (Machine.UNKNOWN, PENDING), as globals
# here: a class attribute read through the machine is a generic attribute lookup
UNKNOWN = object()  # a thread's next step not computed yet
PENDING = object()  # a thread's next step being computed (a fault's outcome asks for the others')
_new = object.__new__  # a global (program._new)


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
        outcome = ending.fault_outcome(machine, world, new, ti, f)
        c.write("process")
        return evolve(new, fault=outcome), transition(c, ins, step, functions[phase], phase)
    # where the step sends the thread (None: that field of its record stays)
    status = pc = at = None
    if c.end is not None:
        status = c.end  # stays at the step where it ended
    elif c.unwinding:
        pc, at = len(machine._steps[ti]), 0  # thread_run's end: the teardown
    elif c.jump is not None:
        at = labels[c.jump]
    elif c.step_done or phase + 1 >= len(prog):
        n = len(machine._steps[ti])
        was = rec.pc
        if was >= n:  # teardown done
            status = DONE
            c.writes.add(f"thread:{c.name}")
        elif was + 1 < n or (was + 1 == n and c.threads[ti].python):
            pc, at = was + 1, 0
            if was == -1:
                # the bootstrap took the GIL: Thread._bootstrap_inner's self._started.set()
                # (Python code under that GIL, folded in here) lets the starter's start() go
                c.writes.add(f"thread:{c.name}")
        else:
            status, at = DONE, 0
            c.writes.add(f"thread:{c.name}")
            if ti == 0:
                c.writes.add("process")  # main returns: the process exits, every thread stops
    else:
        at = phase + 1
    return c.moved(status, pc, at), transition(c, ins, step, functions[phase], phase)


def transition(c: Ctx, ins, step, function: str, phase: int) -> Transition:
    """What the step just run did.  Every step reads "process" (Ctx starts with it): one that
    ends the run (a fault, main returning) writes it, so it is never swapped with another
    thread's step.  A step mostly reads, writes and says the same each time it runs: the last
    transition of each atomic step of each thread is kept (``Machine._transitions``) and given
    again when it is equal.  A new one's fields are set as evolve sets them (a frozen
    dataclass's __init__ goes through object.__setattr__ field by field)."""
    kept = c.machine._transitions
    key = (c.ti, c.source.threads[c.ti].pc, phase)
    tr = kept.get(key)
    if tr is not None and tr.note == c.note and tr.reads == c.reads and tr.writes == c.writes:
        return tr
    tr = _new(Transition)
    _set(tr, "__dict__", {"thread": c.name, "function": function, "step": step.ref if step is not None else None,
                          "note": c.note, "reads": frozenset(c.reads), "writes": frozenset(c.writes),
                          "label": ins.label})
    kept[key] = tr
    return tr


def expand(machine, state: World, asleep, inherited, new: bool, came=None):
    """A state's outcome (asked only when ``new``: None for a state met before), every enabled
    thread's move from it, by thread name in ``threads`` order, and what the next ask needs of
    this one (the optional System hook ``expand``).  A thread in ``asleep`` takes its move from
    ``inherited`` without running it.  ``came``: None, or (what the ask about the state before
    returned, the thread whose move made this state), so that moves that commute with that
    move are carried over (model/successors.py) without a table of where each world came
    from.  An ended run has no moves."""
    if new and (state.fault is not None or state.threads[0].status == DONE):
        return machine.outcome(state), {}, None
    memo = [UNKNOWN] * len(machine.threads)
    machine._memo_world = state  # the machine's memo of this state: outcome, enabled, step read it
    machine._memo = memo
    machine._memo_enabled = None
    succ = machine._successors
    origin = None
    if came is not None and succ is not None and came[0] is not None:
        before, steps = came[0]
        origin = (state, before, machine._index[came[1]], steps)  # Successors.origin's form
    machine._origin = origin
    moves = _moves(machine, state, asleep, inherited, memo, origin)
    if new and not moves:
        return machine.outcome(state), moves, None  # no thread can run: every move is known (None)
    return None, moves, (state, memo)  # some thread can run, and main has not returned: the run goes on


def _moves(machine, state: World, asleep, inherited, memo: list, origin) -> dict:
    """The moves of :func:`expand`, kept in ``memo`` (by thread index; None: it cannot run),
    carried over from ``origin`` where they commute with the step that made this state."""
    succ = machine._successors
    unknown = UNKNOWN
    out = {}
    recs = state.threads
    for ti, t in enumerate(machine.threads):
        if t in asleep:
            out[t] = inherited[t]
            continue
        if recs[ti].status != RUN:
            memo[ti] = None
            continue
        got = memo[ti]
        if got is not unknown:  # made already: an earlier thread's fault asked for it (ending.py)
            if got is not None:
                out[t] = got
            continue
        if origin is not None and ti != origin[2]:
            got = origin[3][ti]  # its move from the state before (carry() runs again the mover's, and a wait)
            if got is not None and got is not unknown:
                got = succ.carry(origin, state, ti)
            else:
                got = unknown
        if got is unknown:
            memo[ti] = PENDING  # a fault's outcome asks for the others' moves (ending.py)
            got = attempt(machine, state, ti)
        memo[ti] = got
        if got is not None:
            out[t] = got
    return out
