"""Atomic steps and the context they run in.

Why programs of atomic steps: a scenario step such as ``restore`` is not
atomic in C.  ``PyEval_RestoreThread`` reads the thread state, ``take_gil``
checks for finalization, waits on the GIL's condition, takes the GIL, checks
again; another thread can run between any two of those shared-memory accesses,
and the races live exactly there.  So each scenario step becomes a *program*:
a tuple of :class:`Instr`, each one atomic step that names the C function it
mirrors (``frames``, innermost first, the chain of modelled calls).

An instruction runs against a :class:`Ctx`, a mutable scratch copy of the
world for one step.  It declares what shared objects it reads and writes (the
explorer's reduction depends on that), and says where control goes next: the
following instruction (default), a later label, the end of the scenario step,
or the end of the thread (``PyThread_exit_thread``, ``PyThread_hang_thread``).
A step that cannot run now raises :class:`NotReady` (the thread is disabled);
one that ends the run raises :class:`Fault`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields as dataclass_fields
from typing import Callable

from finirace.model import heap as heapmod
from finirace.model.hashed import evolve
from finirace.model.world import DONE, EXITED, HUNG, ThreadRec, World
from finirace.outcome import Access, MemoryErrorReport, RunKind

_REC_FIELDS = len(dataclass_fields(ThreadRec))
# records Ctx.moved keeps, at most: a catalog search makes fewer (up to 2 500 states), a
# four-worker one far more, which the table would keep alive (50 MB more at its peak)
_KEPT = 4096
_set = object.__setattr__  # sets __dict__ whole on a frozen dataclass (hashed.evolve)
_new = object.__new__  # a global: object.__new__ read as an attribute of object is a generic lookup


def _place(d: dict, status: str | None, pc: int | None, phase: int | None) -> None:
    """A record's fields (``d``) moved to a new place (None: that field stays); its hash dropped."""
    if status is not None:
        d["status"] = status
    if pc is not None:
        d["pc"] = pc
    if phase is not None:
        d["phase"] = phase
    d.pop("_hash", None)


class NotReady(Exception):
    """The thread's next atomic step cannot run in this state: it waits."""


class Fault(Exception):
    """The run ends here: undefined behaviour, a signal or an abort."""

    def __init__(self, kind: RunKind, signal: str | None = None, reason: str = "",
                 report: MemoryErrorReport | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.signal = signal
        self.reason = reason
        self.report = report


@dataclass(frozen=True)
class Instr:
    """One atomic step of a program."""

    label: str  # unique in its program, e.g. "take_gil.wait"
    run: Callable[["Ctx"], None]
    frames: tuple[str, ...]  # modelled C functions, innermost first
    waits: str | None = None  # what it may wait on: "gil", "join", "lock", "event", "guards"
    in_runtime: bool = False  # a wait inside CPython (hung if for ever after finalization)
    aliases: tuple[str, ...] = ()  # other labels a goto may name it by (a patch's first step)
    # blocked(machine, world, step): True only where ``run`` would wait (NotReady), read off the
    # world without running the step.  Why: a search asks every waiting thread at every state
    # whether it can go on, and most of those asks are a wait for an event or a join that
    # still waits (nine in ten waits on the catalog); the step's scratch context and the
    # exception cost several times this test.  Set beside the run function it mirrors;
    # None: run the step to know (tests/model/test_machine.py checks each against its run)
    blocked: Callable[[object, World, object], bool] | None = None

    @property
    def function(self) -> str:
        return self.frames[0]


Program = tuple[Instr, ...]


def instr(label: str, run: Callable[["Ctx"], None], function: str, *, waits: str | None = None,
          in_runtime: bool = False, blocked: Callable[[object, World, object], bool] | None = None) -> Instr:
    return Instr(label, run, (function,), waits, in_runtime, blocked=blocked)


def call(caller: str, program: Program | list[Instr]) -> Program:
    """The program as called from ``caller``: each frame chain grows by one."""
    return tuple(evolve(i, frames=i.frames + (caller,)) for i in program)


class Ctx:
    """A step in progress: a mutable copy of the world for one thread."""

    # a search makes one per thread and state: slots make that, and every field read, cheaper
    __slots__ = ("machine", "variant", "ti", "name", "source", "rt", "gil", "threads", "heap", "events", "_locks",
                 "helper", "instr", "step", "reads", "writes", "note", "jump", "step_done", "end", "unwinding", "me")

    def __init__(self, machine, world: World, ti: int, ins: Instr, step) -> None:
        self.machine = machine
        self.variant = machine.variant
        self.ti = ti
        self.name = machine.threads[ti]
        self.source = world
        self.rt = world.runtime
        self.gil = world.gil
        self.threads = world.threads  # a tuple, made a list when a step changes a thread (set_me)
        # the calling thread's record, kept as threads[ti] changes (a slot: a property is read
        # through the interpreter's generic attribute lookup and a call, at every use)
        self.me = self.threads[ti]
        self.heap = world.heap
        self.events = world.events
        self._locks: dict[str, str] | None = None  # made from world.locks when a step looks at them
        self.helper = world.helper
        self.instr = ins
        self.step = step  # the scenario Step, or None (bootstrap, teardown)
        # every step reads "process": one that ends the run (a fault, main returning) writes it
        self.reads: set[str] = {"process"}
        self.writes: set[str] = set()
        self.note = ""
        self.jump: str | None = None
        self.step_done = False
        self.end: str | None = None  # EXITED, HUNG or DONE: the thread ends here
        self.unwinding = False  # an exception unwinds a Python thread: on to thread_run's end

    @property
    def locks(self) -> dict[str, str]:
        """The mutexes held, by name: their owners."""
        if self._locks is None:
            self._locks = dict(self.source.locks)
        return self._locks

    # -- the calling thread (``me``: its record, a slot) ------------------------
    def set_me(self, **fields) -> None:
        threads = self.threads
        if type(threads) is tuple:
            threads = self.threads = list(threads)
        # evolve(), inlined: most steps change their own record, some twice
        d = threads[self.ti].__dict__.copy()
        d.update(fields)
        d.pop("_hash", None)
        if len(d) != _REC_FIELDS:
            evolve(threads[self.ti], **fields)  # raises: names the unknown field
        new = _new(ThreadRec)
        _set(new, "__dict__", d)
        threads[self.ti] = self.me = new

    def moved(self, status: str | None, pc: int | None, phase: int | None) -> World:
        """The world after this step, the thread's own record moved on to where its step
        sends it (the machine's last change to it once its step ran; None: that field stays).
        A record the step itself changed is this step's own copy, which no world holds yet:
        it is changed in place rather than copied again.  One it did not change is copied
        once, and the copy kept (``Machine._moved``, by the record's identity and the new
        place): the same record moved to the same place in another interleaving is the same
        object, its hash computed once and its equality an identity."""
        ti = self.ti
        threads = self.threads
        rec = threads[ti]
        if type(threads) is list and rec is not self.source.threads[ti]:
            _place(rec.__dict__, status, pc, phase)
        else:
            kept = self.machine._moved
            key = (id(rec), status, pc, phase)
            got = kept.get(key)
            if got is not None and got[0] is rec:  # the record is kept with it: its id is its own
                new = got[1]
            else:
                d = rec.__dict__.copy()  # set_me(), inlined
                _place(d, status, pc, phase)
                new = _new(ThreadRec)
                _set(new, "__dict__", d)
                if len(kept) >= _KEPT:
                    kept.clear()  # a bound on what it keeps alive (a search on symmetric keys holds no records)
                kept[key] = (rec, new)
            if type(threads) is not list:
                threads = self.threads = list(threads)
            threads[ti] = self.me = new
        return self.world()

    def set_thread(self, name: str, **fields) -> None:
        i = self.machine.threads.index(name)
        threads = self.threads
        if type(threads) is tuple:
            threads = self.threads = list(threads)
        threads[i] = evolve(threads[i], **fields)
        if i == self.ti:
            self.me = threads[i]
        self.writes.add(f"thread:{name}")

    def holds_gil(self) -> bool:
        """Attached: holds the GIL, or (3.6, no GIL made yet) is ``_PyThreadState_Current``."""
        self.reads.add("gil")
        if not self.gil.created:
            return self.gil.holder == self.name
        return self.gil.locked and self.gil.holder == self.name

    # -- shared objects -------------------------------------------------------
    def read(self, *names: str) -> None:
        self.reads.update(names)

    def write(self, *names: str) -> None:
        self.writes.update(names)

    def access(self) -> Access:
        return Access(self.name, self.instr.function, self.step.ref if self.step else None, self.instr.frames[1:])

    def load(self, block: int, field: str, size: int = 8) -> None:
        """Read a field of a heap block: a dead block is an invalid read."""
        self.reads.add(f"heap:{block}")
        self._check(block, "Invalid read", field, size)

    def store(self, block: int, field: str, size: int = 8) -> None:
        """Write a field of a heap block: a dead block is an invalid write."""
        self.writes.add(f"heap:{block}")
        self._check(block, "Invalid write", field, size)

    def _check(self, block: int, kind: str, field: str, size: int) -> None:
        b = self.heap[block]
        if b.alive:
            return
        self.note = f"{kind.lower()} of {field} in freed {b.name}"
        raise Fault(RunKind.MEMORY_ERROR, reason=f"{kind} of {field}", report=MemoryErrorReport(
            kind=kind, block=b.name, access=self.access(), size=size,
            freed_by=b.freed_by, allocated_by=b.allocated_by))

    def alloc(self, name: str) -> int:
        self.writes.add("heap")
        self.heap, block = heapmod.alloc(self.heap, name, self.access())
        return block

    def free(self, block: int) -> None:
        self.writes.add(f"heap:{block}")
        b = self.heap[block]
        if not b.alive:
            raise Fault(RunKind.MEMORY_ERROR, reason="Invalid free", report=MemoryErrorReport(
                kind="Invalid free", block=b.name, access=self.access(),
                freed_by=b.freed_by, allocated_by=b.allocated_by))
        self.heap = heapmod.free(self.heap, block, self.access())

    def block_name(self, block: int) -> str:
        return self.heap[block].name

    # -- control ------------------------------------------------------------
    def wait(self) -> None:
        raise NotReady()

    def goto(self, label: str) -> None:
        self.jump = label

    def finish(self) -> None:
        """The scenario step is done: go on with the thread's next step."""
        self.step_done = True

    def exit_thread(self) -> None:
        """PyThread_exit_thread: pthread_exit unwinds the C stack of this thread."""
        if self.step is not None and self.step.noexcept:
            # pthread_exit unwinds with a forced-unwind exception; a noexcept frame on the
            # way stops it and the C++ runtime calls std::terminate (gh-87135)
            self.note = "pthread_exit unwinds through a noexcept frame: std::terminate"
            raise Fault(RunKind.ABORT, "SIGABRT", "terminate called without an active exception")
        self.end = EXITED
        self.writes.add(f"thread:{self.name}")
        self.note = self.note or "PyThread_exit_thread: the thread is killed"

    def hang_thread(self) -> None:
        """PyThread_hang_thread: park the thread for ever (3.14+)."""
        self.end = HUNG
        self.writes.add(f"thread:{self.name}")
        self.note = self.note or "PyThread_hang_thread: the thread is parked for ever"

    def give_up(self) -> None:
        """What the variant does to a thread that may not run Python any more."""
        if self.variant.late_thread == "hang":
            self.hang_thread()
        else:
            self.exit_thread()

    def unwind(self) -> None:
        """An exception unwinds this Python thread: its remaining steps do not run,
        ``thread_run`` ends it (its teardown runs next)."""
        self.unwinding = True
        self.writes.add(f"thread:{self.name}")

    def skip_rest(self) -> None:
        """The C code returns on failure: the thread's remaining steps do not run."""
        self.end = DONE
        self.writes.add(f"thread:{self.name}")

    def crash(self, reason: str, signal: str = "SIGSEGV") -> None:
        self.note = f"{signal} in {reason}"
        raise Fault(RunKind.CRASH, signal, reason)

    def abort(self, reason: str) -> None:
        self.note = reason
        raise Fault(RunKind.ABORT, "SIGABRT", reason)

    def world(self, fault=None) -> World:
        locks = self.source.locks if self._locks is None else tuple(sorted(self._locks.items()))
        # every field of World, given as one dict (a new world per move; the frozen __init__
        # sets each field through object.__setattr__)
        # the records are the world's now: a later change copies them again (see moved)
        threads = self.threads = tuple(self.threads)
        w = _new(World)
        _set(w, "__dict__", {"runtime": self.rt, "gil": self.gil, "threads": threads, "heap": self.heap,
                             "events": self.events, "locks": locks, "fault": fault, "helper": self.helper})
        return w
