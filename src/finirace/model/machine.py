"""A scenario under one variant as a :class:`~finirace.model.system.System`.

The machine holds no state of its own: a :class:`~finirace.model.world.World`
is the state, and a step runs one thread's next atomic step
(:mod:`finirace.model.program`) on it.

How a run ends (the contract's ``outcome``):

* a fault (memory error, crash, abort) ends it at once;
* when ``main`` has run all its steps the process exits: other threads stop
  where they are.  Each is reported as what it was: ``finished``; ``exited``
  (``pthread_exit``); ``hung`` when parked by the runtime or waiting for a GIL
  that finalization will never release; ``deadlocked`` when waiting on
  something only stuck threads could give (a join of a hung thread, a mutex an
  exited thread holds, an event nobody left can signal); otherwise the thread
  was merely cut short and its outcome is ``None``;
* when no thread can run and ``main`` has not finished: ``timeout``, with the
  waiting threads ``hung`` or ``deadlocked`` as above (a ``main`` that was
  killed by ``pthread_exit`` ends the process cleanly once nothing else runs).
"""

from __future__ import annotations

from finirace.model import ending, moves
from finirace.model.program import Ctx, Fault, NotReady, Program
from finirace.model.patch import patched
from finirace.model.programs import program_for
from finirace.model.threads import bootstrap, teardown
from finirace.model.variant import Variant
from finirace.model.world import DONE, EXITED, HUNG, NEW, RUN, Gil, Runtime, ThreadRec, World
from finirace.model.locality import Locality
from finirace.model.successors import Successors
from finirace.model.symmetry import Symmetry
from finirace.model.system import Transition
from finirace.outcome import RunKind, RunOutcome

# the programs of each built-in variant, by the variant's id: (variant, {(kind, arg): (program, labels)})
_SHARED: dict[int, tuple[Variant, dict]] = {}
_UNKNOWN = moves.UNKNOWN  # a thread's next step not computed yet (Machine._memo)
_PENDING = moves.PENDING  # a thread's next step being computed (a fault's outcome asks for the others')


class Machine:
    """The System the explorer walks."""

    UNKNOWN = _UNKNOWN
    PENDING = _PENDING
    _attempt = moves.attempt  # one thread's move from a world (model/moves.py)
    expand = moves.expand  # the optional System hook: a state's outcome and moves in one ask

    def __init__(self, scenario, variant: Variant) -> None:
        self.scenario = scenario
        self.variant = variant
        self.threads: tuple[str, ...] = scenario.thread_names
        self._steps = [t.steps for t in scenario.threads]
        # per thread, per step index: (program, labels, scenario step, C functions)
        self._programs: list[dict[int, tuple]] = [{} for _ in self.threads]
        self._own: dict[tuple, tuple[Program, dict[str, int]]] = {}  # a patched variant's programs
        # every thread's next step from the last world asked about: the explorer asks
        # outcome, enabled, then step for each thread of one state in a row
        self._memo_world: World | None = None
        self._memo: list = []
        self._memo_enabled: tuple[str, ...] | None = None  # the threads whose _memo entry is not None
        self._index = {t: i for i, t in enumerate(self.threads)}
        self._key_heap: tuple = ()  # key(): the last heap met and its blocks' liveness
        self._key_live: tuple[bool, ...] = ()
        self._indices = range(len(self.threads))
        self._objects: tuple[str, ...] | None = None
        # the optional System hook for symmetry reduction: only where some threads are alike
        sym = Symmetry(scenario)
        self.symmetry = sym
        self.canonical = sym.canonical if sym.active else None
        self._local: Locality | None = None  # see local
        # every thread's next step, carried over from the state before where it commutes with
        # the step that made this one (model/successors.py); a patched C function may not
        # declare what it touches, so a variant with patches runs every step
        self._successors = None if variant.patches else Successors(_UNKNOWN)
        self._origin = None  # where the memo's world came from (Successors.origin)
        self._moved: dict = {}  # records moved on by a step that left them as they were (Ctx.moved)
        self._transitions: dict = {}  # the last transition of each thread's atomic steps (moves.transition)
        self._ended: dict = {}  # how threads ended, by what decides it (model/ending.py)
        self._faults: dict = {}  # the outcomes of faults, by what makes them (ending.fault_outcome)

    @property
    def local(self) -> Locality | None:
        """The optional System hook for persistent sets (model/locality.py); a patched C
        function may touch anything, so a variant with patches has no local steps.

        Built when a search first asks: its tables (each step's footprint bound to its
        thread, per era) were a third of building a machine, and only the persistent-set
        search reads them (the catalog's searches are sleep-set or symmetric ones)."""
        if self._local is None and not self.variant.patches:
            self._local = Locality(self)
        return self._local

    # -- programs -----------------------------------------------------------
    def program(self, ti: int, pc: int):
        """The atomic steps of thread ``ti``'s step ``pc`` (-1: a Python thread's bootstrap,
        past its last: the teardown): (program, label -> index, scenario step, each atomic
        step's C function)."""
        row = self._programs[ti]
        got = row.get(pc)
        if got is None:
            steps = self._steps[ti]
            if pc == -1:
                built, step = self._built(None, None), None
            elif pc >= len(steps):
                built, step = self._built("", None), None
            else:
                step = steps[pc]
                built = self._built(step.kind, step.arg)
            got = row[pc] = built + (step,) + (tuple(ins.function for ins in built[0]),)
        return got

    def _built(self, kind: str | None, arg: str | None) -> tuple[Program, dict[str, int]]:
        """A step kind's program under this machine's variant and its labels, built once per
        variant and shared by every machine of it (the whole catalog runs each era on some
        thirty scenarios); kind None is the bootstrap, "" the teardown.  A variant with
        patches runs code of its user's, so its programs are built per machine."""
        if self.variant.patches:
            shared = self._own
        else:
            got = _SHARED.get(id(self.variant))
            if got is None or got[0] is not self.variant:  # the variant is kept: its id stays its own
                got = _SHARED[id(self.variant)] = (self.variant, {})
            shared = got[1]
        key = (kind, arg)
        built = shared.get(key)
        if built is None:
            if kind is None:
                prog = bootstrap(self.variant)
            elif kind == "":
                prog = teardown(self.variant)
            else:
                prog = program_for(kind, arg, self.variant)
            if self.variant.patches:
                prog = patched(prog, self.variant)
            labels: dict[str, int] = {}
            for i, ins in enumerate(prog):
                labels.setdefault(ins.label, i)
                for alias in ins.aliases:
                    labels.setdefault(alias, i)
            built = shared[key] = (prog, labels)
        return built

    def current(self, world: World, ti: int):
        """The atomic step a thread is at (its instruction and scenario step)."""
        rec = world.threads[ti]
        prog, _, step, _ = self.program(ti, rec.pc)
        return prog[min(rec.phase, len(prog) - 1)], step

    def object_names(self) -> tuple[str, ...]:
        """Every named object a step may read or write: threads, locks, events."""
        if self._objects is None:
            names = {f"thread:{t}" for t in self.threads}
            for steps in self._steps:
                for s in steps:
                    if s.kind in ("lock", "unlock"):
                        names.add(f"lock:{s.arg}")
                    elif s.kind in ("signal", "wait") or (s.kind == "block" and s.arg):
                        names.add(f"event:{s.arg}")
            self._objects = tuple(sorted(names))
        return self._objects

    # -- System --------------------------------------------------------------
    def initial(self) -> World:
        recs = (ThreadRec(status=RUN),) + (ThreadRec(),) * (len(self.threads) - 1)
        return World(Runtime(), Gil(), recs)

    def enabled(self, state: World) -> tuple[str, ...]:
        if state.fault is not None:
            return ()
        if state is not self._memo_world or self._memo_enabled is None:
            self._attempts(state)
        return self._memo_enabled

    def step(self, state: World, thread: str) -> tuple[World, Transition]:
        got = self._attempt_at(state, self._index[thread])
        if got is None:
            raise ValueError(f"thread {thread} is not enabled")
        return got

    def release(self) -> None:
        """Drop what the machine keeps from one state to the next (its memo, where each world
        came from) once a search is over (optional System hook).  A search runs with the
        garbage collector paused, and the first collection after it walks every object still
        held: the table of successors held up to a thousand worlds with their moves, which
        cost more than a third of a catalog search (310 small searches)."""
        self._memo_world = None
        self._memo = []
        self._memo_enabled = None
        self._origin = None
        self._moved = {}
        self._transitions = {}
        self._ended = {}
        self._faults = {}
        if self._successors is not None:
            self._successors.clear()

    def outcome(self, state: World) -> RunOutcome | None:
        if state.fault is not None:
            return state.fault
        main = state.threads[0]
        if main.status == DONE:
            return RunOutcome(RunKind.CLEAN, self.results(state, timeout=False))
        if self._any_enabled(state):
            return None
        rest_ended = all(r.status in (DONE, EXITED, NEW) for r in state.threads[1:])
        if main.status == EXITED and rest_ended:
            return RunOutcome(RunKind.CLEAN, self.results(state, timeout=False))
        return RunOutcome(RunKind.TIMEOUT, self.results(state, timeout=True))

    def ended(self, state: World) -> RunOutcome | None:
        """The outcome of a state that ended with a fault (optional System hook): known from
        the step that faulted, without asking any thread's next step."""
        return state.fault

    def key(self, state: World):
        """What of a state decides what can happen next (optional System hook).

        Left out: the heap's histories (who allocated and freed each block: they
        only word a report, only liveness decides a step), the GIL's
        ``switch_number`` (only ever counted up, read by no step) and a fault's
        details beyond its label.  Two states with one key reach the same
        outcome labels by the same choices, so the explorer caches keys.
        """
        heap = state.heap
        if heap is not self._key_heap:  # the heap changes in few steps: its liveness is kept
            self._key_heap = heap
            self._key_live = tuple([b.freed_by is None for b in heap])
        g = state.gil
        f = state.fault
        return (state.runtime, (g.locked, g.holder, g.drop_request, g.created), state.threads,
                self._key_live, state.events, state.locks, f.label if f is not None else None, state.helper)

    def blocked_on(self, state: World, thread: str) -> frozenset[str] | None:
        """What a waiting thread's next step looked at before it waited (optional
        System hook, for DPOR); None when the thread can never run again."""
        ti = self.threads.index(thread)
        rec = state.threads[ti]
        if state.fault is not None or rec.status in (DONE, EXITED, HUNG):
            return None
        if rec.status == NEW:  # started by another thread's spawn / start_thread
            return frozenset({f"thread:{thread}", "process"})
        prog, _, step, _ = self.program(ti, rec.pc)
        ins = prog[rec.phase]
        c = Ctx(self, state, ti, ins, step)
        try:
            ins.run(c)
        except NotReady:
            return frozenset(c.reads | {"process"})
        except Fault:
            pass
        return frozenset(c.reads | c.writes | {"process"})  # enabled after all: what its step touches

    # -- one atomic step ------------------------------------------------------
    def _attempts(self, world: World) -> list:
        """Each thread's next step from ``world`` (None: it cannot run), computed once."""
        at = self._attempt_at
        for i in self._indices:
            at(world, i)
        memo = self._memo
        self._memo_enabled = tuple([t for t, got in zip(self.threads, memo) if got is not None])
        return memo

    def _attempt_at(self, world: World, ti: int):
        """One thread's next step from ``world``, kept for as long as the search asks about
        ``world`` (it asks outcome, then the moves, of one state in a row)."""
        if world is not self._memo_world:
            self._memo_world = world
            self._memo = [_UNKNOWN] * len(self.threads)
            self._memo_enabled = None
            if self._successors is not None:
                self._origin = self._successors.origin(world)
        memo = self._memo
        got = memo[ti]
        if got is _UNKNOWN:
            memo[ti] = _PENDING
            if self._origin is not None:
                got = self._successors.carry(self._origin, world, ti)
                if got is _UNKNOWN:
                    got = self._attempt(world, ti)
            else:
                got = self._attempt(world, ti)
            memo[ti] = got
            if got is not None and self._successors is not None:
                self._successors.made(got[0], world, ti, memo)
        return got

    def _any_enabled(self, world: World) -> bool:
        """Whether some thread can run: the steps already made first, then the others in order
        until one can."""
        if world is self._memo_world:
            for got in self._memo:
                if got is not None and got is not _UNKNOWN:
                    return True
        at = self._attempt_at
        return any(at(world, i) is not None for i in self._indices)

    def ready(self, world: World, ti: int) -> bool:
        """Whether a thread's next step can run (a step that would fault can)."""
        rec = world.threads[ti]
        if rec.status != RUN:
            return False
        if world is self._memo_world and world.fault is None:
            got = self._memo[ti]
            if got is _UNKNOWN:  # the search asks for it from this world too: made once (ending.py)
                got = self._attempt_at(world, ti)
            if got is not _PENDING:
                return got is not None  # its move is known (a faulting one is a move too)
        prog, _, step, _ = self.program(ti, rec.pc)
        ins = prog[rec.phase]
        if ins.blocked is not None and ins.blocked(self, world, step):
            return False
        try:
            ins.run(Ctx(self, world, ti, ins, step))
        except NotReady:
            return False
        except Fault:
            return True
        return True

    # -- how threads ended (model/ending.py) -----------------------------------
    results = ending.results
    _providers = ending.providers
