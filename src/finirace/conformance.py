"""Lab against model: does a real interpreter do what the model predicts for its era?

Why here, above both: the lab must not know the model (it runs programs) and
the model must not know the lab (it explores states); only this module
imports both.  For each (scenario, interpreter) the model is asked for every
run outcome it can reach under the interpreter's behaviour era (the
scenario's orderings constrain it just as they constrain the real program),
and the real run's outcome is looked up in that set.

How a match is graded (``Comparison.match``):

* ``yes``: the real outcome is one the model reaches, label for label (the run
  kind and every thread that did not finish);
* ``weak``: the model reaches a memory error, which is undefined behaviour in
  reality: without a detector that sees memory errors (``valgrind``; the
  registry's ``memory_errors``) a crash, an abort or even a clean exit all fit,
  so the run confirms nothing.  Under such a detector a memory error is a ``yes``;
* ``no``: a finding, about the model or about the interpreter (docs/lab.md);
* ``error``: the program did not build, so nothing ran (a ``build-failed``
  outcome, the compiler's words as its reason), or it gave up before its end
  (a ``failed`` outcome: it could not start, or exited non-zero, as the
  generated program does when one of its barriers fails);
* ``n/a``: no prediction (the model has no era for that version);
  ``skipped``: the run was not made (detector unusable there).

A schedule token found by the explorer (``finirace check``) is projected onto
API-call boundaries by :func:`project_schedule`: the order in which the
model's trace *begins* the scenario steps becomes extra pipe barriers in the
generated program, which makes the counterexample a deterministic reproducer.
"""

from __future__ import annotations

from dataclasses import dataclass

from finirace.detectors import registry
from finirace.explore import check, replay
from finirace.lab.codegen import Ordering
from finirace.lab.interpreters import Interpreter
from finirace.lab.runner import LabRun
from finirace.model import build_system, variant_for_version
from finirace.outcome import RunKind, RunOutcome, StepRef, parse_label
from finirace.scenario.format import Scenario
from finirace.scenario.steps import STARTS_PYTHON_THREAD

YES, WEAK, NO, ERROR, NA, SKIPPED = "yes", "weak", "no", "error", "n/a", "skipped"


@dataclass(frozen=True)
class Prediction:
    """The outcomes the model reaches for one scenario under one era."""

    variant: str | None
    outcomes: tuple[RunOutcome, ...] = ()
    note: str = ""  # why there is no prediction

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(o.label for o in self.outcomes)

    @property
    def text(self) -> str:
        return " | ".join(self.labels) if self.outcomes else (self.note or "none")


@dataclass(frozen=True)
class Comparison:
    """One lab run next to the model's prediction for it."""

    run: LabRun
    predicted: Prediction
    match: str  # YES, WEAK, NO, ERROR, NA or SKIPPED
    why: str = ""


def variant_for(interp: Interpreter) -> str | None:
    """The model's behaviour era of a real interpreter; None when the model has none."""
    if interp.version == (0, 0, 0):
        return None
    return variant_for_version(interp.version[0], interp.version[1])


_PREDICTIONS: dict[tuple[str, str | None, str, int], Prediction] = {}


def _predict_cached(scenario: Scenario, variant: str) -> Prediction:
    key = (scenario.name, scenario.path, variant, hash(scenario.threads))
    if key not in _PREDICTIONS:
        _PREDICTIONS[key] = _predict(scenario, variant)
    return _PREDICTIONS[key]


def _predict(scenario: Scenario, variant: str) -> Prediction:
    verdict = check(scenario, variant)
    note = "" if verdict.complete else "model exploration incomplete"
    return Prediction(variant, tuple(verdict.outcomes), note)


def predict(scenario: Scenario, interp: Interpreter) -> Prediction:
    """What the model says this scenario does on this interpreter."""
    variant = variant_for(interp)
    if variant is None:
        return Prediction(None, note=f"no model era for {interp.version_text}")
    return _predict_cached(scenario, variant)


def _same_label(a: str, b: str) -> bool:
    pa, pb = parse_label(a), parse_label(b)
    return pa.kind is pb.kind and pa.threads == pb.threads


def _unseen(p: RunOutcome, got: RunOutcome) -> frozenset[str]:
    """Threads the model ends before their first step and the real run has no marker of.

    A ``threading`` thread that gives up in its bootstrap (``take_gil`` in
    ``t_bootstrap``/``thread_run``) never reaches its C entry, which writes the
    markers, so the lab cannot see how it ended; its clause is left out of the match."""
    out = set()
    for m in p.threads:
        if m.outcome is None or m.last_step is not None:
            continue
        g = got.thread(m.name)
        if g is None or (g.outcome is None and g.last_step is None):
            out.add(m.name)
    return frozenset(out)


def _same_outcome(p: RunOutcome, got: RunOutcome) -> bool:
    """``_same_label``, but for the clauses of threads the lab cannot see (:func:`_unseen`)."""
    if _same_label(p.label, got.label):
        return True
    unseen = _unseen(p, got)
    if not unseen:
        return False
    pa, pb = parse_label(p.label), parse_label(got.label)
    return pa.kind is pb.kind and {c for c in pa.threads if c[0] not in unseen} == pb.threads


def grade(run: LabRun, predicted: Prediction) -> Comparison:
    """How well one run's outcome fits the prediction (see the module docstring)."""
    if run.skipped:
        return Comparison(run, predicted, SKIPPED, run.note)
    if run.outcome.kind is RunKind.BUILD_FAILED:
        return Comparison(run, predicted, ERROR, run.outcome.reason)
    if run.outcome.kind is RunKind.FAILED:  # the program gave up (a barrier failed, it could not start)
        return Comparison(run, predicted, ERROR, f"the program did not run to its end: {run.outcome.reason}")
    if not predicted.outcomes:
        return Comparison(run, predicted, NA, predicted.note)
    got = run.outcome
    sees_memory = registry.spec(run.detector).memory_errors
    if run.note.startswith("not exact"):
        return Comparison(run, predicted, NO, f"{run.note}: an exact run that does not follow the model is a finding")
    if run.note.startswith("exact") and run.detector == "pymalloc-debug":
        for p in predicted.outcomes:
            if p.kind is RunKind.MEMORY_ERROR:
                return _grade_exact_memory_error(run, predicted, p)
    best, why = NO, f"the model never reaches {got.label!r}"
    for p in predicted.outcomes:
        if p.kind is RunKind.MEMORY_ERROR:
            if sees_memory:
                if got.kind is RunKind.MEMORY_ERROR:
                    return Comparison(run, predicted, YES, f"{run.detector} reports the memory error the model finds")
                why = f"the model reaches a memory error and {run.detector} saw none"
            elif got.kind in (RunKind.CRASH, RunKind.ABORT, RunKind.CLEAN, RunKind.MEMORY_ERROR):
                best, why = WEAK, "the model reaches a memory error: undefined behaviour, only valgrind can confirm it"
            continue
        if _same_label(p.label, got.label):
            return Comparison(run, predicted, YES, "")
        if _same_outcome(p, got):
            return Comparison(run, predicted, YES, "but for " + ", ".join(sorted(_unseen(p, got))) +
                              ": ended in threading's bootstrap, before its C entry writes a marker")
        if (p.kind is RunKind.CRASH and got.kind is RunKind.ABORT and run.version.endswith("-debug")
                and "Assertion" in got.reason):
            # a Py_DEBUG assertion stops the thread where a release build would crash
            return Comparison(run, predicted, YES, f"debug build: {got.reason} where a release build crashes")
        if best is NO and p.kind is got.kind:
            why = _thread_difference(p, got) or why
        if (sees_memory and got.kind is RunKind.MEMORY_ERROR and p.kind is RunKind.CRASH
                and got.signal == p.signal and not any(e.freed_by for e in got.memory_errors)):
            # a memory checker names the invalid access behind the crash (e.g. a NULL read)
            return Comparison(run, predicted, YES, f"{run.detector} reports the invalid access behind the crash")
    return Comparison(run, predicted, best, why)


def _grade_exact_memory_error(run: LabRun, predicted: Prediction, p: RunOutcome) -> Comparison:
    """An exact run under ``PYTHONMALLOC=debug`` where the model reads freed memory: yes or no.

    The debug allocator fills a freed block (0xdd), so the read the model names
    faults at once in the function that makes it; anything else is a finding."""
    got = run.outcome
    error = p.memory_errors[0] if p.memory_errors else None
    where = error.access.function if error is not None else ""
    if got.kind in (RunKind.CRASH, RunKind.ABORT) and where and where in (got.reason or ""):
        freed = error.freed_by if error is not None else None
        by = f"; freed by {freed.function} at {freed.step}" if freed is not None else ""
        return Comparison(run, predicted, YES, f"{got.signal or got.kind.value} in {where}, where the model "
                          f"makes the {error.kind.lower()} of {error.block} (PYTHONMALLOC=debug filled it on free){by}")
    if (got.kind is RunKind.ABORT and run.version.endswith("-debug") and "_PyMem_IsPtrFreed" in (got.reason or "")
            and error is not None and error.access.step is not None):
        # a Py_DEBUG build asserts that a pointer it reads is not the debug allocator's dead
        # pattern (is_tstate_valid in take_gil): its own report of the read, in the thread and step
        reader = got.thread(error.access.step.thread)
        if reader is not None and reader.last_step is not None and str(reader.last_step) == str(error.access.step):
            freed = error.freed_by
            by = f"; freed by {freed.function} at {freed.step}" if freed is not None else ""
            return Comparison(run, predicted, YES, f"debug build: {got.reason} in {error.access.step}, where the "
                              f"model makes the {error.kind.lower()} of {error.block}{by}")
    return Comparison(run, predicted, NO, f"the model makes an {error.kind.lower() if error else 'invalid access'} in "
                      f"{where or '?'}; the exact run ended {got.label!r}" + (f" in {got.reason}" if got.reason else ""))


def _thread_difference(p: RunOutcome, got: RunOutcome) -> str:
    """Say which threads differ when the run kinds agree (the usual shape of a finding)."""
    parts = []
    for t in got.threads:
        m = p.thread(t.name)
        mo = m.outcome.value if m is not None and m.outcome else "cut short"
        go = t.outcome.value if t.outcome else "cut short"
        if mo == go:
            continue
        m_at = f" at {m.last_step}" if m is not None and m.last_step else ""
        g_at = f" at {t.last_step}" + (f" in {t.where}" if t.where else "") if t.last_step else ""
        parts.append(f"{t.name}: model {mo}{m_at}, real {go}{g_at}")
    return "; ".join(parts)


@dataclass(frozen=True)
class Projection:
    """A schedule made into orderings, with what the model says it leads to."""

    variant: str
    token: str
    orderings: tuple[Ordering, ...]
    outcome: RunOutcome  # the model's outcome of that schedule
    split: tuple[StepRef, ...] = ()  # steps another thread ran inside of: only approximated
    exact: object = None  # the ExactPlan that gdb follows on an interpreter with a line map (lab.exact)

    @property
    def prediction(self) -> Prediction:
        return Prediction(self.variant, (self.outcome,))


def project_schedule(scenario: Scenario, variant: str, token: str) -> Projection:
    """A model schedule as pipe barriers between scenario steps (API-call boundaries).

    The model's trace is replayed and every scenario step placed where it
    *returned* (its last atomic transition), or, for a step that never
    returned within the trace (blocked for ever, killed, cut short), where it
    began.  Ordering by return is what an API-call boundary can express: a
    step the model shows waiting (say ``restore`` for the GIL) while another
    thread ran is placed after that thread's steps, and since a real call
    would not wait there, the reproducer makes it.  Each pair of consecutive
    steps of different threads becomes an :class:`Ordering`: the second waits
    until the first has returned, or only begun when the first never returns.
    A projection cannot stop a thread *inside* one C call, so a schedule that
    needs that (the residual race of the wrapper patch) is approximated.
    """
    cx = replay(build_system(scenario, variant), token)
    refs = [s.transition.step for s in cx.trace]
    first: dict[StepRef, int] = {}
    last: dict[StepRef, int] = {}
    for n, ref in enumerate(refs):
        if ref is not None:
            first.setdefault(ref, n)
            last[ref] = n
    ended_at: dict[str, int | None] = {}
    for t in cx.outcome.threads:
        finished = t.outcome is not None and t.outcome.value == "finished"
        ended_at[t.name] = None if finished else (t.last_step.index if t.last_step else -1)

    def returned(ref: StepRef) -> bool:
        stop = ended_at.get(ref.thread)
        return stop is None or ref.index < stop

    # threading.Thread.start() returns only once its child ran (self._started.wait()): a start
    # step is placed where it begins, and what the model runs before it returns waits only
    # for that beginning, or the child would wait for its own start to return
    starts = {ref for ref in first if _starts_thread(scenario, ref)}

    def at(ref: StepRef) -> int:
        return last[ref] if returned(ref) and ref not in starts else first[ref]

    placed = sorted(first, key=lambda r: (at(r), first[r]))
    out: list[Ordering] = []
    for a, b in zip(placed, placed[1:]):
        if a.thread != b.thread:
            out.append(Ordering(first=a, then=b, done=returned(a) and last[a] < first[b]))
    split = tuple(r for r in first if any(o is not None and o.thread != r.thread
                                          for o in refs[first[r]:last[r] + 1]))
    return Projection(variant, token.strip(), tuple(out), cx.outcome, split,
                      _exact_plan(scenario, variant, token, cx))


def _starts_thread(scenario: Scenario, ref: StepRef) -> bool:
    """Whether the step ``ref`` starts a ``threading`` thread (``start_thread``, ``python_thread``)."""
    for t in scenario.threads:
        if t.name == ref.thread and 0 <= ref.index < len(t.steps):
            return t.steps[ref.index].kind in STARTS_PYTHON_THREAD
    return False


def _exact_plan(scenario: Scenario, variant: str, token: str, cx):
    """The gdb plan of the schedule (None when pipes order it exactly): see :mod:`finirace.exactplan`."""
    from finirace import exactplan
    from finirace.explore import decode

    system = build_system(scenario, variant)
    state = system.initial()
    for c in decode(token):
        state, _ = system.step(state, system.threads[c])
    return exactplan.plan(scenario, [s.transition for s in cx.trace], cx.outcome, token.strip(),
                          exactplan.pending_steps(system, state))
