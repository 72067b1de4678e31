"""How ``finirace check`` shows verdicts: a table, counterexamples, JSON, JUnit.

The table is scenario × variant, each cell the outcome labels reached, marked
against the scenario's expectation.  A counterexample is drawn the way GenMC
and Lincheck draw theirs, one column per thread and one row per atomic step,
so who did what while the others waited reads left to right; preemptions, the
unlikely switches a race needs, are marked on their row.  Memory errors are
worded as valgrind words them.

Everything here returns strings or data; ``commands/check.py`` prints.
"""

from __future__ import annotations

from typing import Iterable

from finirace.explore.trace import Counterexample
from finirace.explore.verdict import Verdict
from finirace.outcome import RunOutcome, label_matches, outcome_to_dict
from finirace.report.junit import Case

OK, BAD = "✓", "✗"
PREEMPT = "↯"
_CELL = 44  # widest a counterexample column gets before its text is cut


def cell_lines(v: Verdict) -> list[str]:
    """The labels of one verdict, each marked against the expectation."""
    lines = []
    for label in v.labels:
        if v.expected is None:
            lines.append(label)
        else:
            fits = any(label_matches(e, label) for e in v.expected)
            lines.append(f"{OK if fits else BAD} {label}")
    if v.expected is not None:
        for e in v.expected:
            if not any(label_matches(e, label) for label in v.labels):
                lines.append(f"{BAD} missing: {e}")
    if not v.complete:
        lines.append(f"({v.strategy})")
    return lines or ["(nothing reached)"]


def table(verdicts: list[Verdict], variants: list[str]):
    """A rich Table, scenario × variant (rich is imported only when a table is drawn)."""
    from rich.table import Table

    t = Table(show_lines=True, title="outcomes reachable under each model variant")
    t.add_column("scenario", no_wrap=True)
    for var in variants:
        t.add_column(var)
    cells: dict[str, dict[str, Verdict]] = {}
    for v in verdicts:
        cells.setdefault(v.scenario, {})[v.variant] = v
    for name, row in cells.items():
        t.add_row(name, *("\n".join(cell_lines(row[var])) if var in row else "" for var in variants))
    return t


def trace_lines(cx: Counterexample, threads: tuple[str, ...]) -> list[str]:
    """The trace as a table: one column per thread, one row per atomic step.

    A thread's cell names the scenario step when it starts one, then the C
    function and the model's note, wrapped (never cut: the note is the point).
    ``↯`` marks a preemption, with the thread that could have gone on.
    """
    import textwrap

    rows: list[tuple[str, str, list[str]]] = []
    current: dict[str, object] = {}
    for n, st in enumerate(cx.trace, 1):
        tr = st.transition
        text = f"{tr.function}: {tr.note}" if tr.note else tr.function
        if tr.step is not None and current.get(tr.thread) != tr.step:
            current[tr.thread] = tr.step
            text = f"{tr.step.text} › {text}"
        cells = ["" for _ in threads]
        cells[threads.index(tr.thread) if tr.thread in threads else 0] = text
        mark = f"{PREEMPT} preempts {st.preempted}" if st.preemption else ""
        rows.append((str(n), mark, cells))
    widths = [min(_CELL, max([len(t)] + [len(r[2][i]) for r in rows])) for i, t in enumerate(threads)]
    num = max(2, len(str(len(rows))))
    header = (f"{'#':>{num}}  " + "  ".join(f"{t:<{w}}" for t, w in zip(threads, widths))).rstrip()
    out = [header, "-" * len(header)]
    for n, mark, cells in rows:
        wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(cells, widths)]
        for k in range(max(len(w) for w in wrapped)):
            parts = [(w[k] if k < len(w) else "") for w in wrapped]
            line = f"{n if k == 0 else '':>{num}}  " + "  ".join(f"{p:<{w}}" for p, w in zip(parts, widths))
            out.append(line + "   " + mark if mark and k == 0 else line.rstrip())
    return out


def outcome_lines(o: RunOutcome) -> list[str]:
    """The end of the run: how each thread ended, and memory errors valgrind-style."""
    out = []
    head = o.label
    if o.signal:
        head += f" ({o.signal})"
    if o.reason:
        head += f": {o.reason}"
    out.append(head)
    for t in o.threads:
        if t.outcome is None:
            state = "cut short"
        else:
            state = t.outcome.value
        where = f" in {t.where}" if t.where else ""
        last = f", at step {t.last_step}" if t.last_step else ""
        out.append(f"  {t.name}: {state}{where}{last}")
    for err in o.memory_errors:
        out.extend(f"==finirace== {line}" for line in err.lines())
    return out


def counterexample_lines(v: Verdict, cx: Counterexample, threads: tuple[str, ...], ref: str | None = None) -> list[str]:
    """A counterexample in full; ``ref`` is how the scenario is named on a command line (a path or a bundled name)."""
    p = cx.preemptions
    head = (
        f"{v.scenario} under {v.variant}: {cx.outcome.label}  "
        f"({p} preemption{'s' if p != 1 else ''}, {cx.steps} steps)"
    )
    out = [head, f"schedule {cx.schedule}   replay: finirace check {ref or v.scenario} --variant {v.variant} --replay {cx.schedule}", ""]
    out.extend(trace_lines(cx, threads))
    out.append("")
    out.extend(outcome_lines(cx.outcome))
    return out


def _cx_json(cx: Counterexample) -> dict:
    return {
        "outcome": cx.outcome.label,
        "schedule": cx.schedule,
        "preemptions": cx.preemptions,
        "steps": cx.steps,
        "trace": [
            {
                "thread": s.transition.thread,
                "function": s.transition.function,
                "step": str(s.transition.step) if s.transition.step else None,
                "note": s.transition.note,
                "preemption": s.preemption,
                "preempted": s.preempted,
            }
            for s in cx.trace
        ],
    }


def verdict_json(v: Verdict) -> dict:
    return {
        "scenario": v.scenario,
        "variant": v.variant,
        "strategy": v.strategy,
        "complete": v.complete,
        "outcomes": [outcome_to_dict(o) for o in v.outcomes],
        "counterexamples": [_cx_json(cx) for cx in v.counterexamples],
        "states": v.states,
        "transitions": v.transitions,
        "seconds": round(v.seconds, 6),
        "expected": list(v.expected) if v.expected is not None else None,
        "match": v.matches,
    }


def to_json(verdicts: Iterable[Verdict]) -> dict:
    return {"results": [verdict_json(v) for v in verdicts]}


def junit_cases(
    verdicts: Iterable[Verdict], threads_of: dict[str, tuple[str, ...]], refs: dict[str, str] | None = None
) -> list[Case]:
    """One case per scenario × variant; a mismatch fails with its counterexamples."""
    cases = []
    for v in verdicts:
        summary = "; ".join(v.labels) or "nothing reached"  # labels hold commas themselves
        if v.matches is False:
            exp = "; ".join(v.expected or ())
            details = []
            for cx in v.counterexamples:
                details.extend(counterexample_lines(v, cx, threads_of.get(v.scenario, ()), (refs or {}).get(v.scenario)))
                details.append("")
            cases.append(Case(v.scenario, v.variant, v.seconds, failure=f"reached {summary}; expected {exp}", details="\n".join(details)))
        elif v.matches is None:
            cases.append(Case(v.scenario, v.variant, v.seconds, skipped=f"no expectation for {v.variant}; reached {summary}"))
        else:
            cases.append(Case(v.scenario, v.variant, v.seconds, output=f"reached {summary}"))
    return cases

