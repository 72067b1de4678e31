"""The seam between the model and the explorer: a transition system.

The model turns a scenario and a variant into a :class:`System`; the explorer
walks it and knows nothing of GILs or thread states.  The contract is small on
purpose, so that strategies (exhaustive with reductions, preemption-bounded,
PCT, replay) are interchangeable and can be tested on toy systems.

Contract:

* states are immutable and hashable (the explorer caches them), and equal
  states behave the same from then on;
* ``step`` is a pure function: same state and thread, same result;
* a thread is *enabled* when its next atomic step can run now; a thread that
  waits (a mutex, a condition, an event, a join) is not enabled;
* ``outcome`` is ``None`` while the run goes on, and a :class:`RunOutcome`
  once it is over: a fault (memory error, crash, abort) ends it at once; when
  no thread is enabled it must say how the run ended (clean exit of ``main``
  with some threads hung, or a timeout when ``main`` itself can never end).
* ``Transition.reads``/``writes`` name the shared objects one step touches
  (``"gil"``, ``"runtime"``, ``"tstate:worker"``, ``"event:blocked"``...).
  Two steps of different threads are independent when neither writes what the
  other reads or writes: the partial-order reduction relies on it, so a step
  must declare everything shared it looks at.

Optional (the explorer works without it, with less reduction):

* ``blocked_on(state, thread) -> frozenset[str] | None``: what a *waiting*
  thread's next step read before it found it must wait (``None`` when the
  thread can never run again).  Dynamic partial-order reduction needs it to
  see a race between a step and a thread it enables; without it the explorer
  uses sleep sets.
* ``expand(state, asleep, inherited, new) -> (RunOutcome | None, {thread: (State,
  Transition)})``: a state's outcome (asked only when ``new``) and every enabled
  thread's move, in ``threads`` order, in one ask; a thread in ``asleep`` takes
  its move from ``inherited`` without running it (the sleep-set search's sleeping
  threads: independent steps leave each other enabled and unchanged).  Without
  it the search asks ``outcome``, ``enabled`` and ``step`` for every enabled
  thread.
* ``release()``: drop what the system kept for a search, once it is over (the
  exhaustive search calls it while the garbage collector is still paused).
* ``ended(state) -> RunOutcome | None``: the outcome of a state known to have
  ended without computing any thread's next step (the model's faults), else
  ``None``.  The persistent-set search takes such a state's outcome without
  keying it.
* ``key(state) -> Hashable``: what the explorer caches a state by, leaving out
  what cannot change what happens next (histories kept only for reports).  Two
  states with one key must be enabled for the same threads, step to states
  with equal keys, and end with the same outcome label; without the hook the
  state is its own key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Protocol

from finirace.outcome import RunOutcome, StepRef


@dataclass(frozen=True)
class Transition:
    """What one atomic step did, for traces and for the reduction."""

    thread: str
    function: str  # the C function modelled, e.g. "take_gil"
    step: StepRef | None  # the scenario step it belongs to
    note: str = ""  # a few words: "waits for the GIL", "frees PyThreadState of worker"
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    label: str = ""  # the atomic step's identity in its C function, e.g. "take_gil.tstate"

    def conflicts(self, other: "Transition") -> bool:
        """Whether the two steps may not be swapped (dependent)."""
        if self.thread == other.thread:
            return True
        return bool(
            self.writes & (other.reads | other.writes) or other.writes & self.reads
        )


State = Hashable


class System(Protocol):
    """A scenario under one variant, as the explorer sees it."""

    #: thread names, ``main`` first; schedules name threads by index in this tuple
    threads: tuple[str, ...]

    def initial(self) -> State: ...

    def enabled(self, state: State) -> tuple[str, ...]:
        """Threads whose next atomic step can run now, in ``threads`` order."""
        ...

    def step(self, state: State, thread: str) -> tuple[State, Transition]:
        """Run one atomic step of ``thread`` (which must be enabled)."""
        ...

    def outcome(self, state: State) -> RunOutcome | None:
        """How the run ended, or None while it goes on."""
        ...
