"""A model schedule as an exact plan for gdb: where each thread must stop, segment by segment.

Why here, above the model and the lab (like :mod:`finirace.conformance`): the
plan is read off the model's trace, and it is written in the lab's vocabulary
(:class:`~finirace.lab.exact.ExactPlan`), which knows nothing of the model.

The trace is cut into *segments*, maximal runs of one thread.  Each segment
ends where the model switches away from its thread; the thread must stop
before its next atomic step in the trace:

* at the beginning of a scenario step, when that next step begins one (a call
  boundary: a line of the generated program);
* inside a step, before the model step ``label`` (a line of CPython, from the
  line map), when the model preempts the thread inside a call.  If the
  thread is not inside that scenario step yet, it is first run to the step's
  beginning (``arm``), so an earlier call of the same C function does not
  stop it; ``skip`` counts the times the model runs that label again first;
* when its steps are done, when the model has it finish and it never runs again;
* as it ends, when the model kills it (``pthread_exit``) and it never runs again.

A thread that never runs again in the trace and neither finishes nor ends there (it
parks, or waits for good) cannot be stopped anywhere: from that segment
on every thread runs free, and the plan says what the model still does then.
A trace with no switch inside a call needs no plan: pipes order it (see
:func:`finirace.conformance.project_schedule`).
"""

from __future__ import annotations

from dataclasses import dataclass

from finirace.lab.exact import AGAIN, DONE, ENDED, GIVES_UP, ExactPlan, Segment, Stop
from finirace.outcome import StepRef
from finirace.scenario.format import Scenario
from finirace.scenario.steps import STARTS_PYTHON_THREAD


def _steps_text(trans) -> str:
    """The scenario steps a run of transitions goes through, for the transcript."""
    out: list[str] = []
    for t in trans:
        label = str(t.step) if t.step is not None else t.function
        if not out or out[-1] != label:
            out.append(label)
    return ", ".join(out)


@dataclass(frozen=True)
class Pending:
    """A thread's next atomic step when the trace ends (not run): where it must be held."""

    thread: str
    step: StepRef | None
    label: str
    function: str = ""
    note: str = ""


def pending_steps(system, state) -> dict[str, Pending]:
    """Each thread's next atomic step in the model's final ``state`` (threads still able to go on)."""
    current = getattr(system, "current", None)
    if current is None:
        return {}
    out = {}
    for i, name in enumerate(system.threads):
        rec = state.threads[i]
        if getattr(rec, "status", None) != "run":
            continue
        ins, step = current(state, i)
        out[name] = Pending(name, step.ref if step is not None else None, ins.label, ins.function)
    return out


def plan(scenario: Scenario, trace, outcome, token: str,
         pending: dict[str, Pending] | None = None) -> ExactPlan | None:
    """The exact plan of a replayed trace (a sequence of Transitions), or None when pipes suffice.

    ``pending``: each thread's next atomic step after the trace, so a thread the
    model leaves mid-call (cut short by another thread's fault) is held there.
    """
    trans = list(trace)
    pending = pending or {}
    last = {t.thread: t.step for t in trans}
    ender = trans[-1].thread if trans else None  # its fault or return ends the run: nothing to hold
    held = any(p.step is not None and last.get(name) == p.step for name, p in pending.items() if name != ender)
    if not held and not any(_inside_switch(trans, n) for n in range(1, len(trans))):
        return None
    finished = {t.name for t in getattr(outcome, "threads", ()) if t.outcome is not None
                and t.outcome.value == "finished"}
    exited = {t.name for t in getattr(outcome, "threads", ()) if t.outcome is not None
              and t.outcome.value == "exited"}
    runs: list[tuple[int, int]] = []  # [a, b] index ranges of one thread
    start = 0
    for n in range(1, len(trans) + 1):
        if n == len(trans) or trans[n].thread != trans[start].thread:
            runs.append((start, n - 1))
            start = n
    segments: list[Segment] = []
    tail = ""
    for k, (a, b) in enumerate(runs):
        thread = trans[a].thread
        text = _steps_text(trans[a:b + 1])
        if k == len(runs) - 1:
            segments.append(Segment(thread, text, None))
            break
        nxt = next((j for j in range(b + 1, len(trans)) if trans[j].thread == thread), None)
        if nxt is None:
            ended_in_c = trans[b].step is None  # a threading thread's bootstrap or teardown
            if thread in finished:
                # a threading thread whose teardown (thread_run's end) the model ran: it must
                # go on past its steps, deleting its state and releasing the GIL
                segments.append(Segment(thread, text, Stop(None, ENDED if ended_in_c else DONE)))
                continue
            if thread in exited and ended_in_c and thread in children_of(scenario):
                # killed in its bootstrap (take_gil gives up): held in PyThread_exit_thread, so
                # the others run on only once it made every read the model has it make first
                segments.append(Segment(thread, text, Stop(None, GIVES_UP)))
                continue
            if thread in exited and not (ended_in_c and thread in children_of(scenario)):
                segments.append(Segment(thread, text, Stop(None, ENDED)))
                continue
            if thread in pending:
                segments.append(Segment(thread, text, _stop([*trans[:b + 1], pending[thread]], a, b, b + 1)))
                continue
            segments.append(Segment(thread, text, None))
            tail = _steps_text(trans[b + 1:])
            break
        segments.append(Segment(thread, text, _stop(trans, a, b, nxt)))
    children = _python_children(scenario, trans)
    return ExactPlan(token, tuple(segments), children, tail)


def _stop(trans, a: int, b: int, nxt: int) -> Stop:
    """Where the thread of ``trans[a..b]`` stops: before ``trans[nxt]``."""
    target = trans[nxt]
    ref: StepRef | None = target.step
    previous = trans[b]
    if ref is not None and previous.step != ref:
        return Stop(ref, None)  # a call boundary
    if ref is None and previous.step is not None:
        # a threading thread preempted after its steps, before its teardown (thread_run's
        # end): its C entry has returned; the place is where its steps are done
        return Stop(None, DONE)
    mine = [i for i in range(b + 1) if trans[i].thread == target.thread and trans[i].step == ref]
    inside_at_start = any(i < a for i in mine)
    at_start = inside_at_start or trans[a].step == ref  # inside the step, or stopped at its beginning
    label = target.label or target.function
    again = [i for i in mine if trans[i].label == target.label]
    if again:  # also in a threading thread's bootstrap (ref None): its take_gil loops the same
        # the model runs this step again: a wait that timed out and waits on (take_gil's loop).
        # The real loop does not come back to the step's first line but to the wait itself:
        # the place "LABEL.again", hit once per turn of the loop.
        before = sum(1 for i in again if i < a)
        return Stop(ref, label + AGAIN, arm=not at_start and ref is not None,
                    skip=max(0, len(again) - 1 - max(0, before - 1)),
                    note=target.note)
    first = a + 1 if inside_at_start else a
    skip = sum(1 for i in range(first, b + 1) if trans[i].step == ref and trans[i].label == target.label)
    return Stop(ref, label, arm=not at_start and ref is not None, skip=skip, note=target.note)


def _inside_switch(trans, n: int) -> bool:
    """Whether the switch before ``trans[n]`` leaves the previous thread inside a call."""
    prev = trans[n - 1]
    if prev.thread == trans[n].thread:
        return False
    nxt = next((t for t in trans[n:] if t.thread == prev.thread), None)
    return nxt is not None and nxt.step is not None and nxt.step == prev.step


def children_of(scenario: Scenario) -> frozenset[str]:
    """The threads some step starts with ``threading``: one that dies in its bootstrap never
    reaches its C entry, which sets the end marker's key, so nothing can stop it as it ends."""
    return frozenset(s.arg for t in scenario.threads for s in t.steps if s.kind in STARTS_PYTHON_THREAD)


def _python_children(scenario: Scenario, trans) -> tuple[str, ...]:
    """The threads ``start_thread`` makes, in the order the trace starts them."""
    kinds = {s.ref: s for t in scenario.threads for s in t.steps}
    out: list[str] = []
    for t in trans:
        s = kinds.get(t.step) if t.step is not None else None
        if s is not None and s.kind in STARTS_PYTHON_THREAD and s.arg not in out:
            out.append(s.arg)
    return tuple(out)
