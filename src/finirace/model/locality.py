"""Which steps are *local*: safe to take alone, before any other thread moves.

The explorer prunes states with persistent sets (:mod:`finirace.explore.ample`):
where one thread's next step is local, it tries only that step.  This module is
the model's half of that: it knows which objects a scenario step can touch,
now and later, and what decides a thread's outcome.

A step ``t`` of thread ``p`` from state ``s`` is *local* when:

1. it is a ``signal``, ``wait``, ``block``, ``lock`` or ``unlock`` (or see 4): those touch
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

4. A C-API step (or a bootstrap or teardown) is local too, under 2 and 3, where
   each other thread's future is what its remaining steps' *declared
   footprints* may touch (:mod:`~finirace.model.footprint`: per step kind, the
   runtime, the GIL, the thread's own state's block...), up to the same steps
   it cannot get past; and the step changes nothing an outcome label reads
   (:mod:`~finirace.model.ending`) but its thread's position: not who holds
   the GIL, the locks, whether finalization began, whether the thread holds
   guards, nor another thread's record, except that a ``spawn`` may start its
   thread at a first atomic step that never waits (that thread, ready, is cut
   short in any label, as it was before it started).  So a worker's
   ``PyGILState_Ensure`` or ``take_gil`` finalization check is local while
   ``main`` waits for that worker's event: only ``main``'s finalization writes
   the runtime.  A thread not started yet takes no step while the only threads
   that can start it stand still.

A variant that patches C functions (``--variant-file``) can make any step touch
anything: with patches, no step is local.
"""

from __future__ import annotations

import weakref

from finirace.model import footprint
from finirace.model.ending import fini_began
from finirace.model.world import DONE, EXITED, HUNG, NEW, World
from finirace.model.system import Transition

LOCAL_KINDS = frozenset({"signal", "wait", "block", "lock", "unlock"})
# steps whose atomic steps read every event and lock, and whether each thread can run
# (the exit guard's bounded wait, exitguard._wait): while one lies ahead, no step is local
WIDE_KINDS = frozenset({"exit_guard", "exit_guard_park"})
_WIDE = ("wide", "*", None)
# the steps that start a thread (named by their argument): the only ones that change a thread's
# status from NEW (tests/model/test_footprint.py checks it)
STARTS = frozenset({"spawn", "start_thread", "python_thread"})
_ENDED = (DONE, EXITED, HUNG)
_FUTURES = 1 << 16  # what the others may touch, kept by their positions, before the table is emptied


class Locality:
    """The ``local`` hook of one :class:`~finirace.model.machine.Machine`."""

    def __init__(self, machine) -> None:
        # a proxy, not the machine: the machine holds this table, and a cycle between them would
        # keep the machine and everything it holds after a search (its memo, the worlds in it)
        # until a full collection, which a search's paused collector makes rare: ten four-worker
        # searches in one process grew from 160 MB to 320 MB
        self.machine = weakref.proxy(machine)
        self.names = machine.threads
        self.steps = [t.steps for t in machine.scenario.threads]
        # per thread and step index: (kind, object) of each local step, in order; other steps are None
        self._named = [[_named(s) for s in steps] for steps in self.steps]
        # per event: the threads with a step that signals it, and at which step indices
        self._signals: dict[str, list[tuple[int, int]]] = {}
        self._futures: dict[tuple, tuple[frozenset[str], frozenset[str]]] = {}  # see __call__
        self._reaches: dict[tuple, tuple[frozenset[str], frozenset[str]]] = {}  # see _c_api_local
        # per thread: each step's declared footprint, bound to the thread (model/footprint.py),
        # the bootstrap's at index -1 and the teardown's at len(steps)
        # (by whether the GIL exists: footprint.GIL_MADE)
        self._prints = {made: [self._bound(ti, made) for ti in range(len(self.steps))] for made in (False, True)}
        self._class = [self._classes(ti) for ti in range(len(self.steps))]
        # per thread: the steps that start it, (thread index, step index)
        self._starts: dict[str, list[tuple[int, int]]] = {}
        for ti, steps in enumerate(self.steps):
            for i, s in enumerate(steps):
                if s.kind == "signal":
                    self._signals.setdefault(s.arg, []).append((ti, i))
                elif s.kind in STARTS:
                    self._starts.setdefault(s.arg, []).append((ti, i))

    def candidate(self, world: World, ti: int) -> bool:
        """Whether thread ``ti``'s next step may be local at all (its scenario step's kind):
        the explorer asks before it computes the step."""
        return self._class[ti][world.threads[ti].pc + 1] != 0

    def _classes(self, ti: int) -> list[int]:
        """Per step index + 1 (the bootstrap at 0, the teardown last): 1 for a step that names
        an event or lock (1-3 below), 2 for a C-API step of a declared footprint (4), else 0."""
        steps = self.steps[ti]
        out = []
        for i in range(-1, len(steps) + 1):
            kind = steps[i].kind if 0 <= i < len(steps) else (None if i < 0 else "")
            out.append(1 if kind in LOCAL_KINDS else
                       2 if kind not in WIDE_KINDS and kind in footprint.DECLARED else 0)
        return out

    def __call__(self, world: World, ti: int, tr: Transition, after: World) -> bool:
        """Whether thread ``ti``'s step ``tr`` (from ``world`` to ``after``) is local."""
        rec = world.threads[ti]
        if "process" in tr.writes or after.threads[ti].status in _ENDED or after.fault is not None:
            return False
        cls = self._class[ti][rec.pc + 1]
        if cls != 1:
            return cls == 2 and self._c_api_local(world, ti, tr, after)
        # what the others may touch reads only each thread's position (or that it ended), the
        # events signalled and the locks held: kept by those (a search asks at each state
        # with a candidate, and most positions recur)
        k = (ti, world.events, world.locks, *[None if r.status in _ENDED else r.pc for r in world.threads])
        touched, writes = self._others(self._futures, k, world, ti, None)
        if "*" in writes or tr.writes & touched or (tr.reads & writes):
            return False
        return self._stays_ready(after, ti, writes)

    def _others(self, table: dict, k: tuple, world: World, ti: int, prints: list | None) \
            -> tuple[frozenset[str], frozenset[str]]:
        """What the threads other than ``ti`` may touch (and write) while it stands still, kept
        in ``table`` by ``k``: all of the world that :meth:`_future` reads (with ``prints``,
        their footprints too)."""
        got = table.get(k)
        if got is None:
            reads: set[str] = set()
            writes: set[str] = set()
            for qi in range(len(self.names)):
                if qi != ti:
                    self._future(world, qi, ti, reads, writes, None if prints is None else prints[qi])
            if len(table) > _FUTURES:
                table.clear()
            got = table[k] = (frozenset(reads | writes), frozenset(writes))
        return got

    def _future(self, world: World, qi: int, stuck: int, reads: set[str], writes: set[str],
                prints: dict | None = None) -> None:
        """Add the events and locks thread ``qi`` may touch while thread ``stuck`` takes no step;
        with ``prints`` (its steps' bound footprints), everything its steps may touch."""
        rec = world.threads[qi]
        if rec.status in _ENDED or (rec.status == NEW and not self._may_start(world, qi, stuck)):
            return
        named = self._named[qi]
        if prints is not None:
            # heap:self: its tstate now, or any block once a step ahead may point it back
            pcs = range(-1 if rec.pc < 0 or rec.status == NEW else rec.pc, len(named) + 1)
            repointed = any(prints[i][3] for i in pcs)
            own = footprint.own_heap(rec.tstate, repointed)
        for i in range(max(rec.pc, 0), len(named)):
            got = named[i]
            if prints is not None:
                if i == max(rec.pc, 0):
                    if rec.pc < 0 or rec.status == NEW:
                        self._add(prints[-1], own, reads, writes)  # the bootstrap, before step 0
                if got is not None and self._stops(world, got, stuck):
                    return
                self._add(prints[i], own, reads, writes)
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
        if prints is not None:
            if not named and (rec.pc < 0 or rec.status == NEW):
                self._add(prints[-1], own, reads, writes)
            self._add(prints[len(named)], own, reads, writes)  # the teardown of a threading thread

    def _started(self, world: World, ti: int, qi: int, rec, after: World) -> bool:
        """Whether thread ``ti``'s step only started thread ``qi`` (``rec`` after it), at a first
        atomic step that never waits: ready whatever the others do, so cut short in any label
        as a thread not started is (its joiners read ``thread:``, in its footprint)."""
        steps = self.steps[ti]
        pc = world.threads[ti].pc
        if not (0 <= pc < len(steps) and steps[pc].kind == "spawn" and steps[pc].arg == self.names[qi]):
            return False
        return world.threads[qi].status == NEW and rec.status != NEW and self.machine.current(after, qi)[0].waits is None

    def _may_start(self, world: World, qi: int, stuck: int) -> bool:
        """Whether a thread other than ``stuck`` has a step ahead that starts thread ``qi``
        (a thread not started yet takes no step before one of those)."""
        for ri, i in self._starts.get(self.names[qi], ()):
            rec = world.threads[ri]
            if ri != stuck and rec.status not in _ENDED and i >= max(rec.pc, 0):
                return True
        return False

    @staticmethod
    def _add(got: tuple, own: str | None, reads: set[str], writes: set[str]) -> None:
        r, w, names_own, _ = got
        reads.update(r)
        writes.update(w)
        if names_own and own is not None:
            reads.add(own)
            writes.add(own)

    def _stops(self, world: World, got: tuple, stuck: int) -> bool:
        """Whether a thread cannot get past this named step while ``stuck`` stands still (as
        :meth:`_future` judges it)."""
        kind, obj, arg = got
        if kind == "wait":
            return arg not in world.events and self._only_signaller(world, arg) == stuck
        if kind == "lock":
            return dict(world.locks).get(arg) == self.names[stuck]
        if kind == "join":
            return arg == self.names[stuck]
        return False

    def _bound(self, ti: int, made: bool) -> dict[int, tuple[frozenset[str], frozenset[str], bool, bool]]:
        """Thread ``ti``'s steps' footprints, bound to it (``made``: from a world where the GIL
        exists): per step index, (reads, writes, whether they name ``heap:self``, whether the
        step may point its tstate back)."""
        name = self.names[ti]
        steps = self.steps[ti]
        out = {}
        for i in range(-1, len(steps) + 1):
            s = steps[i] if 0 <= i < len(steps) else None
            reads, writes = footprint.declared(s.kind if s is not None else (None if i < 0 else ""))
            r, own_r = footprint.bind(reads, name, s.arg if s is not None else None, made)
            w, own_w = footprint.bind(writes, name, s.arg if s is not None else None, made)
            out[i] = (r, w, own_r or own_w, footprint.TSTATE_SELF in writes)
        return out

    def _c_api_local(self, world: World, ti: int, tr: Transition, after: World) -> bool:
        """4: a C-API step is local when it changes nothing an outcome label reads but its
        thread's position (model/ending.py: who holds the GIL, the locks, whether
        finalization began, whether the thread holds guards), no other thread's footprint
        (model/footprint.py) meets it while this one stands still, and 3 holds."""
        waits = self.machine.current(after, ti)[0].waits
        if waits is not None and waits != "event" and waits != "lock":
            return False  # 3 cannot hold (_stays_ready): asked first, as it is the cheapest
        g, h = world.gil, after.gil
        if g is not h and (g.holder if g.locked else None) != (h.holder if h.locked else None):
            return False
        if world.locks != after.locks:
            return False
        if world.runtime is not after.runtime and fini_began(world.runtime) != fini_began(after.runtime):
            return False
        if bool(world.threads[ti].guards) != bool(after.threads[ti].guards):
            return False
        recs = world.threads
        for qi, (b, a) in enumerate(zip(recs, after.threads)):
            if qi != ti and a is not b and a != b and not self._started(world, ti, qi, a, after):
                return False
        made = world.gil.created
        k = (ti, world.events, world.locks, made,
             *[None if r.status in _ENDED else (r.status, r.pc, r.tstate) for r in recs])
        touched, writes = self._others(self._reaches, k, world, ti, self._prints[made])
        if footprint.WILD in writes or footprint.meets(tr.writes, touched):
            return False
        if footprint.meets([o for o in tr.reads if o != "process"], writes):
            return False
        return self._stays_ready(after, ti, writes)

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
