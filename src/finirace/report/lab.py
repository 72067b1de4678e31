"""How ``finirace lab`` shows its results: a table on the terminal, or JSON.

Repeated runs of one (scenario, interpreter, detector) collapse into one row
that says how often each outcome came ("reproduced k/n times", as frontrun
says it), so a flaky reproduction is visible at a glance.  A weak match is
written ``weak`` and never ``yes``: a crash where the model predicts a memory
error confirms nothing without valgrind.  A program that did not build is its
own outcome (``build-failed``, graded ``error``), never a clean run.  Rows come
mismatches first (``no``, then ``error``, ``weak``, ``yes``, ``n/a``,
``skipped``), each group in plan order.

Everything here reads :class:`~finirace.records.LabRunRecord`: the graded runs
``finirace lab`` just made (:func:`finirace.campaign.lab_record`) or the ones
``finirace report NAME`` reads back from the store, so both commands print the
same rows with the same grades.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from finirace.conformance import ERROR, NA, NO, SKIPPED, WEAK, YES
from finirace.outcome import MemoryErrorReport, RunOutcome, outcome_to_dict
from finirace.records import BACKTRACE_TAIL, LabRunRecord
from finirace.report import junit

_RANK = {NO: 0, ERROR: 1, WEAK: 2, YES: 3, NA: 4, SKIPPED: 5}


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
    order: str = ""  # with --schedule: "exact" (gdb held threads at lines), "not exact", "approximated"


def order_of(run: LabRun) -> str:
    """How a scheduled run was ordered, from its note (kept in the store as it is)."""
    for word in ("exact", "not exact", "approximated"):
        if run.note.startswith(word + ":"):
            return word
    return ""


def rows(records: list[LabRunRecord]) -> list[Row]:
    groups: dict[tuple[str, str, str], list[LabRunRecord]] = {}
    for c in records:
        groups.setdefault((c.scenario, c.python, c.detector), []).append(c)
    out = []
    for (scenario, python, detector), cs in groups.items():
        first = cs[0]
        if all(c.skipped for c in cs):
            out.append(Row(scenario, python, first.version, detector, "not run", first.predicted_text,
                           SKIPPED, 0, len(cs), first.note))
            continue
        counts = Counter(describe(c.outcome) for c in cs)
        top, k = counts.most_common(1)[0]
        text = "; ".join(f"{o} ({n}/{len(cs)})" for o, n in counts.most_common()) if len(cs) > 1 else top
        match = min((c.grade for c in cs), key=lambda m: _RANK[m])
        note = next((c.why for c in cs if c.grade == match and c.why), "")
        orders = sorted({order_of(c) for c in cs}, key=("not exact", "approximated", "exact", "").index)
        out.append(Row(scenario, python, first.version, detector, text, first.predicted_text, match, k, len(cs), note,
                       orders[0]))
    return sorted(out, key=lambda r: _RANK[r.match])  # stable: plan order within a grade


def describe(o: RunOutcome) -> str:
    """The label, with the signal: ``crash (SIGSEGV)``, ``clean, worker exited``."""
    if o.signal and o.kind.value in ("crash", "abort", "memory-error"):
        head, _, rest = o.label.partition(", ")
        return f"{head} ({o.signal})" + (f", {rest}" if rest else "")
    return o.label


def render(console, records: list[LabRunRecord], verbose: bool = False) -> None:
    """The conformance table, then the details a reader needs (reasons, memory errors)."""
    from rich.table import Table

    table = Table(title="finirace lab", show_lines=False)
    for col in ("scenario", "python", "detector", "outcome", "predicted", "match"):
        table.add_column(col, overflow="fold")
    rs = rows(records)
    for r in rs:
        match = r.match if r.match != WEAK else "weak (UB)"
        outcome = r.outcome if r.runs == 1 or r.match == SKIPPED else f"{r.outcome}"
        detector = f"{r.detector} ({r.order})" if r.order else r.detector
        table.add_row(r.scenario, r.version, detector, outcome, r.predicted, match, style=_style(r.match))
    console.print(table)
    for r in rs:
        if r.runs > 1 and r.match != SKIPPED:
            console.print(f"{r.scenario} on {r.version} ({r.detector}): reproduced {r.reproduced}/{r.runs} times",
                          markup=False, highlight=False)
        if (r.match in (NO, ERROR, SKIPPED) or r.order) and r.note:
            console.print(f"{r.scenario} on {r.version} ({r.detector}): {r.note}", markup=False, highlight=False)
    shown: set[tuple[str, str, str]] = set()
    for c in records:
        key = (c.scenario, c.version, c.detector)
        if key in shown or c.skipped:
            continue
        shown.add(key)
        o = c.outcome
        lines = []
        if o.reason and c.grade != ERROR:  # an error's reason is the row's note, printed above
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
            console.print(f"{c.scenario} on {c.version} ({c.detector}):", markup=False, highlight=False)
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
    return {NO: "bold red", ERROR: "bold red", WEAK: "yellow", YES: "green"}.get(match, "dim")


outcome_json = outcome_to_dict  # the lab's JSON is the vocabulary's own


def to_json(records: list[LabRunRecord]) -> dict:
    """``{"runs": [...], "summary": [...]}``: every run, and one line per table row."""
    runs = []
    for r in records:
        runs.append({
            "scenario": r.scenario,
            "python": r.python,
            "version": r.version,
            "detector": r.detector,
            "outcome": outcome_json(r.outcome),
            "predicted": [p.label for p in r.predicted],
            "variant": r.variant,
            "match": r.grade,
            "why": r.why,
            "skipped": r.skipped,
            "note": r.note,
            "duration": round(r.duration, 4),
            "backtraces": r.backtraces[-BACKTRACE_TAIL:],
        })
    summary = [
        {"scenario": r.scenario, "version": r.version, "detector": r.detector, "outcome": r.outcome,
         "predicted": r.predicted, "match": r.match, "reproduced": r.reproduced, "runs": r.runs,
         "order": r.order}
        for r in rows(records)
    ]
    return {"runs": runs, "summary": summary}


def write_junit(path: str, records: list[LabRunRecord], suite: str = "finirace lab") -> None:
    """One case per table row: a mismatch fails, a program that did not build errs, a run not made is skipped."""
    cases = [
        junit.Case(
            classname="lab." + r.scenario,
            name=f"{r.scenario} on {r.version} ({r.detector})",
            failure=(f"outcome {r.outcome!r}, the model predicts {r.predicted!r}" if r.match == NO else None),
            error=(r.note or r.outcome) if r.match == ERROR else None,
            details=r.note if r.match == NO else "",
            skipped=(r.note or "not run") if r.match == SKIPPED else None,
            output=f"outcome: {r.outcome}\npredicted: {r.predicted}\nmatch: {r.match}",
        )
        for r in rows(records)
    ]
    junit.write(path, suite, cases)
