"""How a campaign is shown: terminal tables (rich), JSON, JUnit XML of its buckets.

Everything a target printed reaches the terminal through ``rich.markup.escape``
and reaches XML through the JUnit writer, never raw.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from finirace.detectors.backtrace import CRASHED, stack_cut
from finirace.guard.advice import FIX, guard_fixes
from finirace.outcome import outcome_to_dict
from finirace.report import junit
from finirace.store import Bucket, Campaign, CampaignSummary, Store


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


def campaigns_table(summaries: list[CampaignSummary], console: Console) -> None:
    table = Table(title="finirace campaigns")
    for col in ("campaign", "runs", "failed", "buckets", "last run", "command"):
        table.add_column(col, justify="right" if col in ("runs", "failed", "buckets") else "left")
    for s in summaries:
        target = f"/{s.campaign.target_runs}" if s.campaign.target_runs else ""
        table.add_row(
            escape(s.campaign.name), f"{s.runs}{target}", str(s.failures), str(s.buckets),
            _when(s.last_finished), escape(" ".join(s.campaign.argv)),
        )
    console.print(table)


def _by_level(rows: list[tuple[str, int]] | list[tuple[str, int, int]]) -> dict[str, list[int]]:
    """Counts by perturbation level (the first word of a run's perturbation; ``?`` for runs that did not keep it)."""
    from finirace.stress.perturb import level_of

    out: dict[str, list[int]] = {}
    for text, *counts in rows:
        into = out.setdefault(level_of(text) or "?", [0] * len(counts))
        for k, n in enumerate(counts):
            into[k] += n or 0
    return out


def campaign_data(store: Store, campaign: Campaign) -> dict[str, Any]:
    """The whole report as plain data (the JSON output)."""
    buckets = store.buckets(campaign.id)
    levels = _by_level(store.perturbation_counts(campaign.id))
    per_bucket = store.bucket_perturbations(campaign.id)
    return {
        "levels": {lv: {"runs": n, "failed": f} for lv, (n, f) in sorted(levels.items())},
        "campaign": campaign.name,
        "command": list(campaign.argv),
        "options": dict(campaign.options),
        "target_runs": campaign.target_runs,
        "runs": store.run_count(campaign.id),
        "kinds": store.kind_counts(campaign.id),
        "buckets": [
            _with_fix({
                "signature": b.signature,
                "kind": b.kind,
                "count": b.count,
                "first_run": b.first_run,
                "last_run": b.last_run,
                "repro": b.repro,
                "repro_check": b.repro_check,  # '' when the command was not checked
                "native_backtrace": b.native_backtrace,
                "example": _example(store, campaign, b),
                "levels": {lv: n for lv, (n,) in sorted(_by_level(per_bucket.get(b.id, [])).items())},
            })
            for b in buckets
        ],
    }


def _with_fix(bucket: dict[str, Any]) -> dict[str, Any]:
    """The bucket with ``fix``: the exit guard's line when the guard prevents this failure, else ''."""
    ex = bucket["example"]
    fixes = guard_fixes(bucket["kind"], ex.get("reason") or "", bucket["signature"], bucket["native_backtrace"] or "",
                        ex.get("stderr_tail") or "")
    return {**bucket, "fix": FIX if fixes else ""}


def _example(store: Store, campaign: Campaign, bucket: Bucket) -> dict[str, Any]:
    for run in store.runs(campaign.id, bucket.id):
        o = run.outcome
        return {
            "run": run.index, "seed": run.seed, "signal": o.signal, "reason": o.reason,
            "exit_code": o.exit_code, "outcome": outcome_to_dict(o), "python_tracebacks": run.python_tracebacks,
            "memory_errors": run.memory_error_text, "stderr_tail": run.stderr_tail[-2000:],
        }
    return {}


def write_json(data: dict[str, Any], out: IO[str]) -> None:
    json.dump(data, out, indent=2, sort_keys=True)
    out.write("\n")


def buckets_table(data: dict[str, Any], console: Console) -> None:
    """The buckets as a table, then each bucket's reproduction command (whole, on its own line) and stacks."""
    from finirace.report.console import command_line

    runs = data["runs"]
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(data["kinds"].items()))
    console.print(f"[bold]{escape(data['campaign'])}[/bold]: {runs} runs ({escape(kinds) or 'none'})")
    if runs and data["kinds"].get("failed", 0) == runs:
        console.print(f"[red]every run exited non-zero or could not start: this campaign tested nothing[/red] "
                      f"(see the failed bucket{'s' if len(data['buckets']) > 1 else ''} below)", soft_wrap=True)
    levels = data.get("levels", {})
    if len(levels) > 1 or (levels and "?" not in levels and data["buckets"]):
        # the rate per perturbation level: a crash that a level hides shows under another
        console.print("failed by perturbation: " + ", ".join(
            f"{escape(lv)} {v['failed']}/{v['runs']} ({100 * v['failed'] / v['runs']:.0f}%)" for lv, v in levels.items()
            if v["runs"]), soft_wrap=True)
    if not data["buckets"]:
        console.print("no crash, abort, memory error or hang recorded")
        return
    table = Table(show_lines=True)
    for col in ("#", "count", "signature", "first…last run"):
        table.add_column(col, justify="right" if col in ("#", "count") else "left", overflow="fold")
    for n, b in enumerate(data["buckets"], 1):
        table.add_row(str(n), f"{b['count']}/{runs}", escape(b["signature"]), f"{b['first_run']}…{b['last_run']}")
    console.print(table)
    for n, b in enumerate(data["buckets"], 1):
        console.print(f"\n[bold]#{n} {escape(b['signature'])}[/bold]  (reproduced {b['count']}/{runs} times)")
        if b.get("levels"):
            have = data.get("levels", {})
            console.print("  by perturbation: " + ", ".join(
                f"{escape(lv)} {k}/{have.get(lv, {}).get('runs', '?')}" for lv, k in b["levels"].items()), soft_wrap=True)
        command_line(console, "reproduce", b["repro"])
        console.print("  " + escape(b.get("repro_check") or "not checked: `finirace report NAME --check-repro` runs it"
                                   .replace("NAME", data["campaign"])), soft_wrap=True, highlight=False)
        ex = b["example"]
        if b.get("fix"):
            console.print(f"[green]{escape(b['fix'])}[/green]", soft_wrap=True)
        if ex.get("memory_errors"):
            console.print(escape(ex["memory_errors"]))
        if b["native_backtrace"]:
            crashed = b["kind"] in CRASHED
            shown = stack_cut(b["native_backtrace"], 3000, crashed)  # whole frames, never cut mid-frame
            cut = "…\n" if shown != b["native_backtrace"] else ""
            console.print(escape(shown + cut if crashed else cut + shown))
        if ex.get("python_tracebacks"):
            console.print(escape(_tail(ex["python_tracebacks"])))


def _tail(text: str, size: int = 3000) -> str:
    """The end of a long text, from a line start (a stack cut mid-frame reads as garbage)."""
    if len(text) <= size:
        return text
    cut = text[-size:]
    return "…\n" + cut[cut.find("\n") + 1:] if "\n" in cut else cut


def write_junit(data: dict[str, Any], path: str) -> None:
    """One failing test case per bucket (one passing case when there is none)."""
    cases = [
        junit.Case(
            classname=f"finirace.{data['campaign']}",
            name=b["signature"],
            failure=f"{b['kind']}: reproduced {b['count']}/{data['runs']} times",
            details="\n".join(
                [f"reproduce: {b['repro']}", b.get("fix", ""), b["native_backtrace"], b["example"].get("python_tracebacks", ""),
                 b["example"].get("memory_errors", "")]
            ),
            output=b["example"].get("stderr_tail", ""),
        )
        for b in data["buckets"]
    ] or [junit.Case(classname=f"finirace.{data['campaign']}", name=f"{data['runs']} runs, no failure")]
    junit.write(path, f"finirace stress {data['campaign']}", cases)
