"""How ``finirace lab`` shows its results: a table on the terminal, or JSON.

Repeated runs of one (scenario, interpreter, detector) collapse into one row
that says how often each outcome came ("reproduced k/n times", as frontrun
says it), so a flaky reproduction is visible at a glance.  A weak match is
written ``weak`` and never ``yes``: a crash where the model predicts a memory
error confirms nothing without valgrind.  Rows come mismatches first (``no``,
then ``weak``, ``yes``, ``n/a``, ``skipped``), each group in plan order.

The same table is drawn live by ``finirace lab`` and later by ``finirace
report NAME`` from the store: :func:`record` turns a graded run into the
store's :class:`~finirace.store.LabRunRecord` and :func:`from_records` turns
stored rows back into the comparisons the table is drawn from, so both
commands print the same rows with the same grades.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from finirace.conformance import NA, NO, SKIPPED, WEAK, YES, Comparison, Prediction
from finirace.lab.runner import LabRun
from finirace.outcome import MemoryErrorReport, RunOutcome, outcome_to_dict
from finirace.report import junit
from finirace.store import LabRunRecord

BACKTRACE_TAIL = 16000  # characters of gdb's backtraces kept per run (JSON and store)

_RANK = {NO: 0, WEAK: 1, YES: 2, NA: 3, SKIPPED: 4}


@dataclass(frozen=True)
class Row:
    """One table row: every repetition of one scenario on one interpreter under one detector."""

    scenario: str
    python: str
    version: str
    detector: str
    outcome: str
    predicted: str
    match: str
    reproduced: int  # runs with the most frequent outcome
    runs: int
    note: str = ""


def rows(comparisons: list[Comparison]) -> list[Row]:
    groups: dict[tuple[str, str, str], list[Comparison]] = {}
    for c in comparisons:
        groups.setdefault((c.run.scenario, c.run.python, c.run.detector), []).append(c)
    out = []
    for (scenario, python, detector), cs in groups.items():
        first = cs[0]
        if all(c.run.skipped for c in cs):
            out.append(Row(scenario, python, first.run.version, detector, "not run", first.predicted.text,
                           SKIPPED, 0, len(cs), first.run.note))
            continue
        counts = Counter(describe(c.run.outcome) for c in cs)
        top, k = counts.most_common(1)[0]
        text = "; ".join(f"{o} ({n}/{len(cs)})" for o, n in counts.most_common()) if len(cs) > 1 else top
        match = min((c.match for c in cs), key=lambda m: _RANK[m])
        note = next((c.why for c in cs if c.match == match and c.why), "")
        out.append(Row(scenario, python, first.run.version, detector, text, first.predicted.text, match, k, len(cs), note))
    return sorted(out, key=lambda r: _RANK[r.match])  # stable: plan order within a grade


def describe(o: RunOutcome) -> str:
    """The label, with the signal: ``crash (SIGSEGV)``, ``clean, worker exited``."""
    if o.signal and o.kind.value in ("crash", "abort", "memory-error"):
        head, _, rest = o.label.partition(", ")
        return f"{head} ({o.signal})" + (f", {rest}" if rest else "")
    return o.label


def render(console, comparisons: list[Comparison], verbose: bool = False) -> None:
    """The conformance table, then the details a reader needs (reasons, memory errors)."""
    from rich.table import Table

    table = Table(title="finirace lab", show_lines=False)
    for col in ("scenario", "python", "detector", "outcome", "predicted", "match"):
        table.add_column(col, overflow="fold")
    rs = rows(comparisons)
    for r in rs:
        match = r.match if r.match != WEAK else "weak (UB)"
        outcome = r.outcome if r.runs == 1 or r.match == SKIPPED else f"{r.outcome}"
        table.add_row(r.scenario, r.version, r.detector, outcome, r.predicted, match, style=_style(r.match))
    console.print(table)
    for r in rs:
        if r.runs > 1 and r.match != SKIPPED:
            console.print(f"{r.scenario} on {r.version} ({r.detector}): reproduced {r.reproduced}/{r.runs} times",
                          markup=False, highlight=False)
        if r.match in (NO, SKIPPED) and r.note:
            console.print(f"{r.scenario} on {r.version} ({r.detector}): {r.note}", markup=False, highlight=False)
    shown: set[tuple[str, str, str]] = set()
    for c in comparisons:
        key = (c.run.scenario, c.run.version, c.run.detector)
        if key in shown or c.run.skipped:
            continue
        shown.add(key)
        o = c.run.outcome
        lines = []
        if o.reason:
            lines.append(f"  reason: {o.reason}")
        for t in o.threads:
            if t.outcome is None or t.outcome.value != "finished":
                state = t.outcome.value if t.outcome else "cut short"
                where = f" in {t.where}" if t.where else ""
                lines.append(f"  thread {t.name}: {state}, last step {t.last_step}{where}")
        errors = o.memory_errors if verbose else o.memory_errors[:1]
        for e in errors:
            lines.extend("  " + ln for ln in _short_lines(e))
        if len(o.memory_errors) > len(errors):
            lines.append(f"  ... {len(o.memory_errors) - len(errors)} more memory error(s) (--json shows all)")
        if lines:
            console.print(f"{c.run.scenario} on {c.run.version} ({c.run.detector}):", markup=False, highlight=False)
            for ln in lines:
                console.print(ln, markup=False, highlight=False)


def _short_lines(e: MemoryErrorReport) -> list[str]:
    """valgrind's words, frames trimmed to the first few."""
    out = [f"{e.kind}" + (f" of size {e.size}" if e.size else "") + f" ({e.block})",
           f"   at {e.access.describe()}"]
    if e.freed_by:
        out.append(f" free'd at {e.freed_by.describe()}")
    if e.allocated_by:
        out.append(f" Block was alloc'd at {e.allocated_by.describe()}")
    return out


def _style(match: str) -> str:
    return {NO: "bold red", WEAK: "yellow", YES: "green"}.get(match, "dim")


outcome_json = outcome_to_dict  # the lab's JSON is the vocabulary's own


def to_json(comparisons: list[Comparison]) -> dict:
    """``{"runs": [...], "summary": [...]}``: every run, and one line per table row."""
    runs = []
    for c in comparisons:
        r = c.run
        runs.append({
            "scenario": r.scenario,
            "python": r.python,
            "version": r.version,
            "detector": r.detector,
            "outcome": outcome_json(r.outcome),
            "predicted": list(c.predicted.labels),
            "variant": c.predicted.variant,
            "match": c.match,
            "why": c.why,
            "skipped": r.skipped,
            "note": r.note,
            "duration": round(r.duration, 4),
            "backtraces": r.backtraces[-BACKTRACE_TAIL:],
        })
    summary = [
        {"scenario": r.scenario, "version": r.version, "detector": r.detector, "outcome": r.outcome,
         "predicted": r.predicted, "match": r.match, "reproduced": r.reproduced, "runs": r.runs}
        for r in rows(comparisons)
    ]
    return {"runs": runs, "summary": summary}


def record(index: int, c: Comparison, *, repetition: int = 0, scenario_path: str | None = None,
           schedule: str | None = None, html: str | None = None) -> LabRunRecord:
    """A graded run as the store keeps it."""
    r = c.run
    return LabRunRecord(
        index=index, scenario=r.scenario, python=r.python, version=r.version, detector=r.detector,
        outcome=r.outcome, predicted=tuple(c.predicted.outcomes), grade=c.match, repetition=repetition,
        scenario_path=scenario_path, variant=c.predicted.variant, predicted_note=c.predicted.note, why=c.why,
        skipped=r.skipped, note=r.note, schedule=schedule, html=html, duration=r.duration,
        stdout_tail=r.stdout, stderr_tail=r.stderr, backtraces=r.backtraces[-BACKTRACE_TAIL:],
    )


def from_records(records: list[LabRunRecord]) -> list[Comparison]:
    """Stored runs back into comparisons, graded as they were when they ran (not re-graded)."""
    return [
        Comparison(
            LabRun(x.scenario, x.python, x.version, x.detector, x.outcome, duration=x.duration,
                   stderr=x.stderr_tail, stdout=x.stdout_tail, backtraces=x.backtraces, note=x.note,
                   skipped=x.skipped),
            Prediction(x.variant, x.predicted, x.predicted_note),
            x.grade,
            x.why,
        )
        for x in records
    ]


def write_junit(path: str, comparisons: list[Comparison], suite: str = "finirace lab") -> None:
    """One case per table row: a mismatch fails, a run not made is skipped."""
    cases = [
        junit.Case(
            classname="lab." + r.scenario,
            name=f"{r.scenario} on {r.version} ({r.detector})",
            failure=(f"outcome {r.outcome!r}, the model predicts {r.predicted!r}" if r.match == NO else None),
            details=r.note if r.match == NO else "",
            skipped=(r.note or "not run") if r.match == SKIPPED else None,
            output=f"outcome: {r.outcome}\npredicted: {r.predicted}\nmatch: {r.match}",
        )
        for r in rows(comparisons)
    ]
    junit.write(path, suite, cases)
