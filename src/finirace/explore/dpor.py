"""Dynamic partial-order reduction: one run per Mazurkiewicz trace, or close to it.

Why DPOR on top of sleep sets: sleep sets never skip a *state*, only a second
transition into one; with several workers whose steps mostly commute (each
reading its own thread state, blocked in its own ``read()``), the number of
reachable states is the product of the workers' progress, and state caching
plus sleep sets must still visit every one.  Dynamic partial-order reduction
(Flanagan and Godefroid, *Dynamic Partial-Order Reduction for Model Checking
Software*, POPL 2005) explores from each state only the threads a *race*
observed on the current run asks for: a state's backtrack set starts with one
thread, and grows only when a later step turns out to conflict with an earlier
step of another thread that it is not already ordered after.

Why stateless: DPOR combined naively with state caching is unsound.  A state
met again was explored with the backtrack sets of the run that first reached
it; the races that the *new* path's prefix has with the cached subtree are
never seen, so backtrack points are missing on the new prefix (Yang, Chen,
Gopalakrishnan and Kirby, *Efficient Stateful Dynamic Partial Order
Reduction*, SPIN 2008, fix it with a visible-operation dependency graph over
the cached states).  This search caches nothing: every run it makes is a real
interleaving, each equivalence class of complete runs (hence each final state,
hence each outcome) is met at least once, and nothing is assumed about the
graph of states.  It only counts the distinct states it meets (``states``) for
reports; ``transitions`` is the work done.

The algorithm is source-set DPOR with sleep sets (Abdulla, Aronis, Jonsson and
Sagonas, *Optimal Dynamic Partial Order Reduction*, POPL 2014, Algorithm 1):
before a thread's step runs, each earlier step of another thread it races with
(conflicts, and is not already ordered before it through other steps) is
looked at; from the state before that earlier step, the threads that could
start the reversed order (the *initials* of the steps not ordered after it,
then the racing step) must include one already scheduled there, or one is
added.  The simpler rule of Flanagan and Godefroid (schedule the racing thread
itself) is unsound with sleep sets when that thread sleeps there; the property
tests found exactly that case.  Two points are specific to finirace's systems:

* **Disabled threads.**  A race with a thread that is waiting (on the GIL, an
  event, a join, a mutex, or not yet spawned) must be seen, or an ordering in
  which it would not have waited is lost, and its step never runs on this path
  to be checked.  The system says what the wait looked at: the optional
  ``System.blocked_on(state, thread)`` gives the shared objects the failed
  attempt read (``None`` when the thread can never run again), and that
  would-be step is race-checked at every state where the thread waits.
  Without the hook DPOR would be unsound on any system whose threads wait, so
  :func:`sound_for` says no and the exhaustive search uses sleep sets.
* **Runs cut short.**  A fault or ``main`` returning ends the run while other
  threads could still go on; their next steps are race-checked at the end of
  the run, as if they ran next (the step a thread had pending before the last
  one stands in when the final state gives none).

When no initial can run at the earlier state, every thread enabled there is
added (conservative).  Extra backtrack points only cost time, never soundness.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from finirace.explore.exploration import Exploration, ProgressFn, Recorder, collector_paused, state_key
from finirace.explore.replay import ModelError
from finirace.explore.trace import is_preemption
from finirace.model.system import State, System, Transition


def sound_for(system: System) -> bool:
    """Whether DPOR may run on this system: it must say what a waiting thread waits on."""
    return callable(getattr(system, "blocked_on", None))


@dataclass
class _Node:
    state: State
    enabled: tuple[str, ...]
    moves: dict[str, tuple[State, Transition]]
    pending: dict[str, Transition]  # every thread's next step: real, or what a wait read
    sleep: frozenset[str]
    previous: str | None
    preemptions: int
    backtrack: set[str] = field(default_factory=set)
    done: list[str] = field(default_factory=list)


class DPOR:
    """Stateless DPOR with sleep sets; needs ``System.blocked_on`` (see :func:`sound_for`)."""

    name = "exhaustive (dpor)"

    def __init__(self, max_transitions: int | None = None) -> None:
        self.max_transitions = max_transitions  # past it the search stops, incomplete

    @collector_paused()
    def explore(self, system: System, progress: ProgressFn | None = None) -> Exploration:
        if not sound_for(system):
            raise ValueError("DPOR needs System.blocked_on to see races with waiting threads")
        rec = Recorder(progress)
        threads = system.threads
        index = {t: i for i, t in enumerate(threads)}
        seen: set = set()
        key = state_key(system)
        path: list[Transition] = []  # the current run's transitions
        clocks: list[dict[str, int]] = []  # per path step: per thread, last index ordered before it
        last_of: dict[str, int] = {}  # per thread, its last index on the path
        nodes: list[_Node] = []  # nodes[i] is the state before path[i]
        choices: list[int] = []

        def pending_of(state: State, enabled: tuple[str, ...], moves, over: bool) -> dict[str, Transition]:
            # at the end of a run the threads still able to go on have a next step too
            out = {t: (system.step(state, t)[1] if over else moves[t][1]) for t in enabled}
            for t in threads:
                if t not in out:
                    reads = system.blocked_on(state, t)
                    if reads is not None:
                        out[t] = Transition(t, "", None, "waits", frozenset(reads), frozenset())
            return out

        def race_check(y: Transition) -> None:
            """Source-set rule for a next step ``y`` of a thread, as if run now."""
            n, p = len(path), y.thread
            y_touches, y_writes = y.reads | y.writes, y.writes
            # the steps y depends on (Transition.conflicts, inlined: this is the search's inner loop)
            direct = [k for k, x in enumerate(path) if x.thread == p or x.writes & y_touches or y_writes & x.reads]
            # path[i] happens before path[k] (i < k) when clocks[k].get(path[i].thread, -1) >= i.
            # The immediate races: path[i] of another thread that no later direct step is
            # ordered after.  One backward pass keeps, per thread u, the latest index of u
            # that some later direct step's clock holds (every k > i at once); at its end,
            # what happens before y (hb_y)
            hb_y: dict[str, int] = {}
            races: list[int] = []
            for i in reversed(direct):
                u = path[i].thread
                if u != p and hb_y.get(u, -1) < i:
                    races.append(i)
                for v, j in clocks[i].items():
                    if hb_y.get(v, -1) < j:
                        hb_y[v] = j
            for i in reversed(races):
                u = path[i].thread
                notdep = [k for k in range(i + 1, n) if clocks[k].get(u, -1) < i]  # path[i] not before path[k]
                initials: list[str] = []
                firsts: dict[str, int] = {}  # thread -> where in notdep its first step is
                for at, k in enumerate(notdep):
                    firsts.setdefault(path[k].thread, at)
                for q, at in firsts.items():
                    ck = clocks[notdep[at]]  # q's first step k: no path[j] (j < k) of notdep before it
                    if not any(ck.get(path[j].thread, -1) >= j for j in notdep[:at]):
                        initials.append(q)
                if p not in firsts and not any(hb_y.get(path[j].thread, -1) >= j for j in notdep):
                    initials.append(p)
                node = nodes[i]
                ok = [q for q in initials if q in node.enabled]
                if any(q in node.backtrack for q in ok):
                    continue
                if ok:
                    node.backtrack.add(min(ok, key=index.__getitem__))
                else:
                    node.backtrack.update(node.enabled)

        def push(state: State, sleep: frozenset[str], previous: str | None, pre: int) -> bool:
            """Enter a state (False at the end of a run)."""
            k = key(state)
            if k not in seen:
                seen.add(k)
                rec.states += 1
            outcome = system.outcome(state)
            n = len(path)
            enabled = system.enabled(state)
            if outcome is None and not enabled:
                raise ModelError(f"no thread can run and the model names no outcome (after {n} steps)")
            moves = {t: system.step(state, t) for t in enabled} if outcome is None else {}
            pending = pending_of(state, enabled, moves, outcome is not None)
            if outcome is not None:
                # the run is over: what the threads would have done next races with the path
                if n:
                    for t, x in nodes[-1].pending.items():
                        pending.setdefault(t, x)
                for y in pending.values():
                    race_check(y)
                rec.reached(outcome, tuple(choices), pre)
                return False
            for t, y in pending.items():
                if t not in moves:
                    race_check(y)  # a waiting thread: the step that would enable it races
            node = _Node(state, enabled, moves, pending, sleep, previous, pre)
            first = next((t for t in enabled if t not in sleep), None)
            if first is not None:
                node.backtrack.add(first)
            nodes.append(node)
            return True

        def take(node: _Node, t: str) -> tuple[State, frozenset[str], int]:
            nxt, tr = node.moves[t]
            race_check(tr)
            sleep = frozenset(u for u in (*node.sleep, *node.done) if u in node.moves and not node.moves[u][1].conflicts(tr))
            node.done.append(t)
            n = len(path)
            clock = dict(clocks[last_of[t]]) if t in last_of else {}
            tr_touches, tr_writes = tr.reads | tr.writes, tr.writes
            for j, x in enumerate(path):
                if x.thread == t or x.writes & tr_touches or tr_writes & x.reads:  # x.conflicts(tr)
                    for u, k in clocks[j].items():
                        if clock.get(u, -1) < k:
                            clock[u] = k
            clock[t] = n
            path.append(tr)
            clocks.append(clock)
            choices.append(index[t])
            return nxt, sleep, node.preemptions + is_preemption(node.previous, node.enabled, t)

        saved_last: list[int | None] = []

        def pop_step() -> None:
            tr = path.pop()
            clocks.pop()
            choices.pop()
            old = saved_last.pop()
            if old is None:
                del last_of[tr.thread]
            else:
                last_of[tr.thread] = old

        push(system.initial(), frozenset(), None, 0)
        cap = self.max_transitions
        while nodes:
            if cap is not None and rec.transitions >= cap:
                return rec.result(f"{self.name} stopped after {cap} transitions", complete=False)
            node = nodes[-1]
            todo = [t for t in node.enabled if t in node.backtrack and t not in node.done and t not in node.sleep]
            if not todo:
                nodes.pop()
                if path:
                    pop_step()
                continue
            t = todo[0]
            nxt, sleep, pre = take(node, t)
            saved_last.append(last_of.get(t))
            last_of[t] = len(path) - 1
            rec.transition()
            if not push(nxt, sleep, t, pre):
                pop_step()
        return rec.result(self.name, complete=True)
