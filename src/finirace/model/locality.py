"""Which steps are *local*: safe to take alone, before any other thread moves.

The explorer prunes states with persistent sets (:mod:`finirace.explore.ample`):
where one thread's next step is local, it tries only that step.  This module is
the model's half of that: it knows which objects a scenario step can touch,
now and later, and what decides a thread's outcome.

A step ``t`` of thread ``p`` from state ``s`` is *local* when:

1. it is a ``signal``, ``wait``, ``block``, ``lock`` or ``unlock``: those touch
   only the event or lock they name (and ``"process"``, which every step reads),
   and no other thread's step changes what ``t`` does or what it changed.  The
   ``thread:``/``heap``/``gil``/``runtime`` objects of the C-API steps are all
   outside that.  One C-API step reads every event and lock, and whether each
   thread can run: the exit guard's bounded wait; while a thread has it ahead,
   no step is local;
2. no other thread can, in a run where ``p`` does not move, touch what ``t``
   touches (write what it reads, or read or write what it writes).  Each
   thread's *future* is the events and locks its remaining steps name, up to
   the first step it cannot get past while ``p`` stands still: a ``wait`` for
   an event that only ``p`` is left to signal, a ``join`` of ``p``, a ``lock``
   that ``p`` holds.  So a worker's ``signal b2`` is local while ``main`` is
   still to wait for ``b1`` (signalled by another) and then ``b2``: ``main``
   cannot read ``b2`` before the worker signalled it;
3. it ends neither the run (a fault, ``main`` returning: they write
   ``"process"``) nor ``p``, and ``p`` after it is *ready* in every state the
   others can reach while ``p`` stands still: its next atomic step never waits
   (:attr:`~finirace.model.program.Instr.waits` is ``None``; :class:`Machine`
   checks that such a step never does), or it waits for an event already
   signalled (events are never reset), or a lock no other thread will touch.

Why 3: the other threads' steps still end the run while ``p`` stands still (a
fault, ``main`` returning), so the reduced search sees such an ending after
``t``, where the full search also saw it before.  The two ending states differ
only in ``p`` having taken ``t``.  An outcome label (``clean, w2 hung``) says
how each thread ended; a thread that can still run says nothing (it was cut
short), and ``p`` can run before ``t`` (``t`` reads nothing the others write)
and, by 3, after it.  What ``p`` provides to threads that wait on it is the
same too: ``t`` changes who holds a lock or which events are signalled only in
the direction that lets a waiter run (``signal``, ``unlock``), or takes a free
lock that ``p``, able to run, will give back.  So the labels are equal.

A variant that patches C functions (``--variant-file``) can make any step touch
anything: with patches, no step is local.
"""

from __future__ import annotations

from finirace.model.world import DONE, EXITED, HUNG, World
from finirace.model.system import Transition

LOCAL_KINDS = frozenset({"signal", "wait", "block", "lock", "unlock"})
# steps whose atomic steps read every event and lock, and whether each thread can run
# (the exit guard's bounded wait, exitguard._wait): while one lies ahead, no step is local
WIDE_KINDS = frozenset({"exit_guard", "exit_guard_park"})
_WIDE = ("wide", "*", None)
_ENDED = (DONE, EXITED, HUNG)
_FUTURES = 1 << 16  # what the others may touch, kept by their positions, before the table is emptied


class Locality:
    """The ``local`` hook of one :class:`~finirace.model.machine.Machine`."""

    def __init__(self, machine) -> None:
        self.machine = machine
        self.names = machine.threads
        self.steps = [t.steps for t in machine.scenario.threads]
        # per thread and step index: (kind, object) of each local step, in order; other steps are None
        self._named = [[_named(s) for s in steps] for steps in self.steps]
        # per event: the threads with a step that signals it, and at which step indices
        self._signals: dict[str, list[tuple[int, int]]] = {}
        self._futures: dict[tuple, tuple[frozenset[str], frozenset[str]]] = {}  # see __call__
        for ti, steps in enumerate(self.steps):
            for i, s in enumerate(steps):
                if s.kind == "signal":
                    self._signals.setdefault(s.arg, []).append((ti, i))

    def candidate(self, world: World, ti: int) -> bool:
        """Whether thread ``ti``'s next step may be local at all (its scenario step's kind):
        the explorer asks before it computes the step."""
        rec = world.threads[ti]
        steps = self.steps[ti]
        return 0 <= rec.pc < len(steps) and steps[rec.pc].kind in LOCAL_KINDS

    def __call__(self, world: World, ti: int, tr: Transition, after: World) -> bool:
        """Whether thread ``ti``'s step ``tr`` (from ``world`` to ``after``) is local."""
        if not self.candidate(world, ti):
            return False
        if "process" in tr.writes or after.threads[ti].status in _ENDED or after.fault is not None:
            return False
        # what the others may touch reads only each thread's position (or that it ended), the
        # events signalled and the locks held: kept by those (a search asks at each state
        # with a candidate, and most positions recur)
        k = (ti, world.events, world.locks, *[None if r.status in _ENDED else r.pc for r in world.threads])
        got = self._futures.get(k)
        if got is None:
            reads: set[str] = set()
            writes: set[str] = set()
            for qi in range(len(self.names)):
                if qi != ti:
                    self._future(world, qi, ti, reads, writes)
            if len(self._futures) > _FUTURES:
                self._futures.clear()
            got = self._futures[k] = (frozenset(reads | writes), frozenset(writes))
        touched, writes = got
        if "*" in writes or tr.writes & touched or (tr.reads & writes):
            return False
        return self._stays_ready(after, ti, writes)

    def _future(self, world: World, qi: int, stuck: int, reads: set[str], writes: set[str]) -> None:
        """Add the events and locks thread ``qi`` may touch while thread ``stuck`` takes no step."""
        rec = world.threads[qi]
        if rec.status in _ENDED:
            return
        named = self._named[qi]
        for i in range(max(rec.pc, 0), len(named)):
            got = named[i]
            if got is None:
                continue
            kind, obj, arg = got
            if kind == "wide":
                writes.add(obj)
                return
            if kind == "wait":
                if arg not in world.events and self._only_signaller(world, arg) == stuck:
                    return  # it cannot get past this wait before `stuck` signals
                reads.add(obj)
            elif kind == "signal":
                writes.add(obj)
            elif kind == "lock":
                if dict(world.locks).get(arg) == self.names[stuck]:
                    return  # `stuck` holds it and will not unlock it
                reads.add(obj)
                writes.add(obj)
            elif kind == "join":
                if arg == self.names[stuck]:
                    return
            else:  # unlock
                reads.add(obj)
                writes.add(obj)

    def _only_signaller(self, world: World, event: str) -> int | None:
        """The one thread left that can signal ``event``, or None (none, or several)."""
        found = None
        for ti, i in self._signals.get(event, ()):
            rec = world.threads[ti]
            if rec.status in _ENDED or i < max(rec.pc, 0):
                continue
            if found is not None and found != ti:
                return None
            found = ti
        return found

    def _stays_ready(self, after: World, ti: int, writes: set[str]) -> bool:
        """Whether thread ``ti`` can run in ``after`` and in every state others reach from it
        while it stands still (``writes``: what they may write)."""
        ins, step = self.machine.current(after, ti)
        if ins.waits is None:
            return True
        if step is None or not self.machine.ready(after, ti):
            return False
        if ins.waits == "event" and step.kind in ("wait", "block"):
            return True  # signalled already, and events are never reset
        if ins.waits == "lock" and step.kind == "lock":
            return f"lock:{step.arg}" not in writes
        return False


def _named(step) -> tuple[str, str, str | None] | None:
    """(kind, object, argument) of a step that names an event, lock or thread it waits on
    (or reads them all: ``wide``); None for the rest, which touch no event or lock."""
    kind, arg = step.kind, step.arg
    if kind in WIDE_KINDS:
        return _WIDE
    if kind in ("wait", "signal") or (kind == "block" and arg):
        return ("wait" if kind != "signal" else "signal", f"event:{arg}", arg)
    if kind in ("lock", "unlock"):
        return (kind, f"lock:{arg}", arg)
    if kind == "join":
        return ("join", f"thread:{arg}", arg)
    return None
