"""How each thread ended when a run ends: the thread outcomes of a :class:`RunOutcome`.

A run ends with a fault, with ``main`` returning, or with no thread able to
run (:meth:`Machine.outcome <finirace.model.machine.Machine.outcome>`).  Each
thread is then reported as what it was: ``finished``, ``exited``, ``hung``,
``deadlocked`` (waiting on something only stuck threads could give), or cut
short (``None``: it could still have run, or waits on a thread that could).

Which threads could still run is the machine's question (``Machine.ready``).
Where the world is the one the search is asking about (the machine's memo),
the answer is each thread's move, which the search needs from that world
anyway: a fault found while making one thread's move asks for the others',
and they are kept rather than run twice.  That is why a fault is judged on the
world before the faulting step when the step changed nothing before it failed
(the worlds are equal part for part): on seed-shaped scenarios under
``legacy36`` a fifth of the steps made are such faults (``PyEval_SaveThread``
with no thread state current), and each used to run every other thread's step
once more.
"""

from __future__ import annotations

from finirace.model.program import Fault
from finirace.model.world import DONE, EXITED, HUNG, NEW, RUN, World
from finirace.outcome import RunOutcome, ThreadOutcome, ThreadResult

_ENDED = 1 << 16  # results kept (results()) before the table is emptied


def fault_outcome(m, world: World, new: World, ti: int, f: Fault) -> RunOutcome:
    """The outcome of thread ``ti``'s fault, which made ``new`` (before the fault is set) from
    ``world``.  Kept (``m._faults``) by what makes it: the other threads' results, where the
    thread was, and the fault, so that equal faults share one outcome (on four seed-shaped
    workers under ``legacy36`` a seventh of the transitions are faults, with few distinct
    outcomes); a fault with a memory-error report is made anew."""
    nd, wd = new.__dict__, world.__dict__
    if (nd["threads"] is wd["threads"] and nd["runtime"] is wd["runtime"] and nd["gil"] is wd["gil"]
            and nd["heap"] is wd["heap"] and nd["events"] is wd["events"] and nd["locks"] is wd["locks"]
            and nd["helper"] is wd["helper"]):
        new = world  # the step failed before changing anything: the world asked about
    res = results(m, new, timeout=False, faulted=ti)
    rec = new.threads[ti]
    key = None
    if f.report is None:
        key = (id(res), ti, rec.pc, rec.phase, f.kind, f.signal, f.reason)
        got = m._faults.get(key)
        if got is not None and got[0] is res:  # the results are kept with it: the id is theirs
            return got[1]
    out = list(res)
    ins, step = m.current(new, ti)
    out[ti] = ThreadResult(m.threads[ti], None, step.ref if step else None, ins.function)
    outcome = RunOutcome(kind=f.kind, threads=tuple(out), signal=f.signal, reason=f.reason,
                         memory_errors=(f.report,) if f.report is not None else ())
    if key is not None:
        if len(m._faults) > _ENDED:
            m._faults.clear()
        m._faults[key] = (res, outcome)
    return outcome


def fini_began(rt) -> bool:
    """Whether finalization began, all the outcome labels read of the runtime: a thread
    waiting then is cut short by it, not deadlocked."""
    return rt.finalizing is not None or (rt.generation > 0 and not rt.initialized)


def results(m, world: World, timeout: bool, faulted: int | None = None) -> tuple[ThreadResult, ...]:
    """Each thread's result when the run ends in ``world`` (``faulted``: the thread whose
    step faulted; ``timeout``: no thread can run and ``main`` has not finished).

    Kept by what decides them (``m._ended``): which threads can run, each thread's status,
    position and whether it holds guards, who holds the GIL, the locks, and whether
    finalization began; :func:`_results` and :func:`providers` read nothing else of the
    world.  Many ends share those (the threads' other fields, the heap, the events differ):
    on four seed-shaped workers under ``legacy36`` 211 145 faults had 13 935."""
    ready = m.ready
    enabled = tuple([i != faulted and ready(world, i) for i in range(len(m.threads))])
    gil, rt = world.gil, world.runtime
    what = (timeout, faulted, enabled, tuple([(r.status, r.pc, r.phase, not r.guards) for r in world.threads]),
            gil.holder if gil.locked else None, world.locks, fini_began(rt))
    memo = m._ended
    got = memo.get(what)
    if got is None:
        if len(memo) > _ENDED:
            memo.clear()
        got = memo[what] = _results(m, world, timeout, faulted, enabled)
    return got


def _results(m, world: World, timeout: bool, faulted: int | None, enabled: tuple[bool, ...]) \
        -> tuple[ThreadResult, ...]:
    n = len(m.threads)
    alive = {i for i in range(n) if enabled[i]}
    if faulted is not None:
        alive.add(faulted)  # it was running when the run ended: others waiting on it were cut short
    changed = True
    while changed:
        changed = False
        for i in range(n):
            if i in alive or world.threads[i].status != RUN:
                continue
            if any(p in alive for p in providers(m, world, i)):
                alive.add(i)
                changed = True
    began = fini_began(world.runtime)
    out = []
    for i, name in enumerate(m.threads):
        rec = world.threads[i]
        ins, step = m.current(world, i)
        steps = m._steps[i]
        ref = step.ref if step is not None else (steps[-1].ref if rec.pc >= len(steps) and steps else None)
        where = ""
        if rec.status == DONE:
            outcome = ThreadOutcome.FINISHED
            ref = steps[min(rec.pc, len(steps) - 1)].ref
        elif rec.status == EXITED:
            outcome, where = ThreadOutcome.EXITED, ins.function
        elif rec.status == HUNG:
            outcome, where = ThreadOutcome.HUNG, ins.function
        elif rec.status == NEW:
            outcome, ref = None, None
        elif i in alive:
            outcome, where = None, ins.function
        else:
            where = ins.function
            if ins.in_runtime and began:
                outcome = ThreadOutcome.HUNG
            elif timeout or ins.waits != "gil":
                outcome = ThreadOutcome.DEADLOCKED
            else:
                outcome = None
        out.append(ThreadResult(name, outcome, ref, where))
    return tuple(out)


def providers(m, world: World, ti: int) -> list[int]:
    """The threads that could let a waiting thread go on."""
    ins, step = m.current(world, ti)
    names = m.threads
    if ins.waits == "gil":
        holder = world.gil.holder if world.gil.locked else None
        return [names.index(holder)] if holder is not None else []
    if ins.waits == "join":
        return [names.index(step.arg)]
    if ins.waits == "lock":
        owner = dict(world.locks).get(step.arg)
        return [names.index(owner)] if owner is not None else []
    if ins.waits == "event":
        out = []
        for j, rec in enumerate(world.threads):
            if rec.status in (RUN, NEW) and any(
                s.kind == "signal" and s.arg == step.arg for s in m._steps[j][max(rec.pc, 0):]
            ):
                out.append(j)
        return out
    if ins.waits == "started":  # threading.Thread.start(): only the child sets _started
        child = names.index(step.arg)
        return [child] if world.threads[child].status == RUN else []
    if ins.waits == "guards":
        return [j for j, rec in enumerate(world.threads) if rec.guards]
    return []
