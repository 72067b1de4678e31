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
UNSURE = "?"  # an expected outcome a bounded or random search did not reach: not ruled out
PREEMPT = "↯"
_CELL = 44  # widest a counterexample column gets before its text is cut


def cell_lines(v: Verdict, strict: bool = False) -> list[str]:
    """The labels of one verdict, each marked against the expectation.

    An expected outcome that a search which did not try every run (bounded,
    PCT) never reached is not known to be missing: it is marked ``?`` as
    the warning it is, and ``✗`` only under ``--strict``, where it fails."""
    lines = []
    for label in v.labels:
        if v.expected is None:
            lines.append(label)
        else:
            fits = any(label_matches(e, label) for e in v.expected)
            lines.append(f"{OK if fits else BAD} {label}")
    for e in v.unreached:
        lines.append(f"{BAD} missing: {e}" if v.complete or strict else f"{UNSURE} not reached: {e}")
    if not v.complete:
        lines.append(f"({v.strategy})")
    return lines or ["(nothing reached)"]


_VARIANT_COLUMN = 18  # room for "✓ memory-error" and the words of a thread clause, with borders


def tables(verdicts: list[Verdict], variants: list[str], width: int, strict: bool = False) -> list:
    """The scenario × variant table, split into as many tables as it takes to fit ``width`` columns.

    A cell is never cut: a label that does not fit its column wraps at its
    words.  Rather than squeeze seven variants into a log's 100 columns, the
    variants go into consecutive tables of the same rows.
    """
    name_width = max([len("scenario")] + [len(v.scenario) for v in verdicts]) + 3
    per_table = max(1, (width - name_width - 1) // _VARIANT_COLUMN)
    chunks = [variants[i:i + per_table] for i in range(0, len(variants), per_table)] or [[]]
    return [table(verdicts, chunk, title="outcomes reachable under each model variant" if n == 0 else None,
                  strict=strict)
            for n, chunk in enumerate(chunks)]


def table(verdicts: list[Verdict], variants: list[str], title: str | None = "outcomes reachable under each model variant",
          strict: bool = False):
    """A rich Table, scenario × variant (rich is imported only when a table is drawn)."""
    from rich.table import Table

    t = Table(show_lines=True, title=title)
    t.add_column("scenario", no_wrap=True)
    for var in variants:
        t.add_column(var, overflow="fold")
    cells: dict[str, dict[str, Verdict]] = {}
    for v in verdicts:
        cells.setdefault(v.scenario, {})[v.variant] = v
    for name, row in cells.items():
        t.add_row(name, *("\n".join(cell_lines(row[var], strict)) if var in row else "" for var in variants))
    return t


def trace_lines(cx: Counterexample, threads: tuple[str, ...], width: int = 100) -> list[str]:
    """The trace as a table: one column per thread, one row per atomic step, within ``width`` columns.

    A thread's cell names the scenario step when it starts one, then the C
    function and the model's note, wrapped (never cut: the note is the point).
    ``↯`` in the margin marks a preemption; the cell says which thread could
    have gone on.
    """
    import textwrap

    rows: list[tuple[str, bool, list[str]]] = []
    current: dict[str, object] = {}
    for n, st in enumerate(cx.trace, 1):
        tr = st.transition
        text = f"{tr.function}: {tr.note}" if tr.note else tr.function
        if tr.step is not None and current.get(tr.thread) != tr.step:
            current[tr.thread] = tr.step
            text = f"{tr.step.text} › {text}"
        if st.preemption:
            text = f"(preempts {st.preempted}) {text}"
        cells = ["" for _ in threads]
        cells[threads.index(tr.thread) if tr.thread in threads else 0] = text
        rows.append((str(n), bool(st.preemption), cells))
    num = max(2, len(str(len(rows))))
    margin = num + 3  # "13 ↯ "
    room = max(len(threads) * 12, width - margin - 2 * (len(threads) - 1))
    cell = max(12, min(_CELL, room // max(len(threads), 1)))
    widths = [min(cell, max([len(t)] + [len(r[2][i]) for r in rows])) for i, t in enumerate(threads)]
    header = (" " * margin + "  ".join(f"{t:<{w}}" for t, w in zip(threads, widths))).rstrip()
    out = [f"{'#':>{num}}" + header[num:], "-" * len(header)]
    for n, preempted, cells in rows:
        wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(cells, widths)]
        for k in range(max(len(w) for w in wrapped)):
            parts = [(w[k] if k < len(w) else "") for w in wrapped]
            lead = f"{n:>{num}} {PREEMPT if preempted else ' '} " if k == 0 else " " * margin
            out.append((lead + "  ".join(f"{p:<{w}}" for p, w in zip(parts, widths))).rstrip())
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


def replay_command(v: Verdict, cx: Counterexample, ref: str | None = None) -> str:
    """The command that replays a counterexample exactly."""
    return f"finirace check {ref or v.scenario} --variant {v.variant} --replay {cx.schedule}"


def counterexample_lines(v: Verdict, cx: Counterexample, threads: tuple[str, ...], ref: str | None = None,
                         width: int = 100) -> list[str]:
    """A counterexample in full; ``ref`` is how the scenario is named on a command line (a path or a bundled name).

    The replay command gets a line of its own, whole, so it can be pasted.
    """
    p = cx.preemptions
    out = [f"{v.scenario} under {v.variant}: {cx.outcome.label}",
           f"{p} preemption{'s' if p != 1 else ''}, {cx.steps} steps, schedule {cx.schedule}",
           f"replay: {replay_command(v, cx, ref)}", ""]
    out.extend(trace_lines(cx, threads, width))
    out.append("")
    out.extend(_fit(outcome_lines(cx.outcome), width))
    return out


def _fit(lines: list[str], width: int) -> list[str]:
    """Lines wrapped at ``width``, a continuation indented under its line's own prefix (``==finirace==``)."""
    import re
    import textwrap

    out = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
            continue
        lead = re.match(r"(==finirace==)?\s*", line).group(0)
        out.extend(textwrap.wrap(line, width, initial_indent="", subsequent_indent=lead + "    ",
                                 break_on_hyphens=False) or [line])
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


def verdict_json(v: Verdict, strict: bool = False) -> dict:
    """One verdict as data.  ``match`` is the expectation against what was reached; ``fails``
    whether it fails the run (a bounded search's unreached expectation is a warning unless
    ``strict``), and ``not_reached`` the expected labels no run reached."""
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
        "fails": v.fails(strict),
        "not_reached": list(v.unreached),
    }


def to_json(verdicts: Iterable[Verdict], strict: bool = False) -> dict:
    return {"results": [verdict_json(v, strict) for v in verdicts]}


def junit_cases(
    verdicts: Iterable[Verdict], threads_of: dict[str, tuple[str, ...]], refs: dict[str, str] | None = None,
    strict: bool = False,
) -> list[Case]:
    """One case per scenario × variant; a mismatch fails with its counterexamples, unless it is
    only what a bounded search did not reach (a warning, in the case's output, as the exit
    status has it; ``strict`` fails it)."""
    cases = []
    for v in verdicts:
        summary = "; ".join(v.labels) or "nothing reached"  # labels hold commas themselves
        if v.matches is False and not v.fails(strict):
            cases.append(Case(v.scenario, v.variant, v.seconds,
                              output=f"reached {summary}; warning: never reached by this search ({v.strategy}: "
                                     f"not every run was tried): {'; '.join(v.unreached)}"))
        elif v.matches is False:
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

