"""``finirace report CAMPAIGN --html FILE``: a stored campaign as one self-contained page.

A stress campaign shows its buckets, worst first, each with a small chart of
how its count grew over the campaign's runs (a bucket that stops growing was
a burst; one that grows steadily is the steady rate to expect), its
reproduction command, and the stacks and output of its first run.

A lab campaign shows the conformance table ``finirace lab`` prints; each row
links to that row's timeline: one lane per scenario thread, its steps in
order, how far the thread got (the store keeps each thread's last step and
how it ended, not every marker, so this is the lanes without real times)
and, for a run that ``lab --html`` drew, a link to that full timeline.
"""

from __future__ import annotations

from typing import Any

from finirace.report.page import anchor, badge, esc, esc_code, kind_class, page

STYLE = """
svg.spark { background: #fafbfd; border: 1px solid var(--line); border-radius: 3px; vertical-align: middle; }
svg.spark polyline { fill: none; stroke: var(--accent); stroke-width: 2; }
svg.spark .axis { stroke: #c9cfd9; } svg.spark text { font-size: 10px; fill: #5b6473; }
.lanes { display: grid; grid-template-columns: 13em 1fr; gap: .35em .8em; margin: .6em 0; align-items: start; }
.lanes .who { font-weight: 700; padding-top: .2em; } .lanes .who small { display: block; font-weight: 400;
  color: var(--muted); }
.steps { display: flex; flex-wrap: wrap; gap: .3em; }
.steps span { padding: .15em .5em; border-radius: 3px; font-size: 12.5px; border: 1px solid transparent; }
.steps .done { background: #dbe8f7; } .steps .never { background: #f1f2f4; color: #9aa1ad; }
.fix { color: #2e7d32; }
.steps .stopped { background: var(--bad-bg); border-color: var(--bad); color: var(--bad); font-weight: 700; }
"""


def _chart(finished: list[float], mine: list[float], total_runs: int, width: int = 260, height: int = 56) -> str:
    """An inline SVG: the bucket's cumulative count against the campaign's time."""
    if not finished or not mine:
        return ""
    t0, t1 = min(finished), max(finished)
    span = max(t1 - t0, 1e-6)
    top = max(len(mine), 1)
    pts = ["4,{:.1f}".format(height - 14)]
    for n, t in enumerate(sorted(mine), 1):
        x = 4 + (t - t0) / span * (width - 8)
        pts.append(f"{x:.1f},{height - 14 - (n - 1) / top * (height - 24):.1f}")
        pts.append(f"{x:.1f},{height - 14 - n / top * (height - 24):.1f}")
    pts.append(f"{width - 4},{height - 14 - (height - 24):.1f}")
    secs = t1 - t0
    return (f'<svg class="spark" width="{width}" height="{height}" role="img" '
            f'aria-label="count over time"><line class="axis" x1="4" y1="{height - 14}" x2="{width - 4}" '
            f'y2="{height - 14}"/><polyline points="{" ".join(pts)}"/>'
            f'<text x="4" y="{height - 2}">0 s</text><text x="{width - 4}" y="{height - 2}" text-anchor="end">'
            f"{secs:.0f} s, {total_runs} runs</text><text x=\"{width - 4}\" y=\"10\" text-anchor=\"end\">"
            f"{len(mine)}</text></svg>")


def stress_document(data: dict[str, Any], finished: dict[int, float], bucket_times: dict[str, list[float]]) -> str:
    """The stress page; ``finished`` maps each run to its end time, ``bucket_times`` each signature to its runs'."""
    runs = data["runs"]
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(data["kinds"].items())) or "none"
    times = list(finished.values())
    rows, sections = [], []
    for n, b in enumerate(data["buckets"], 1):
        key = anchor("bucket", n)
        chart = _chart(times, bucket_times.get(b["signature"], []), runs)
        rows.append(f'<tr><td>{n}</td><td>{badge(b["kind"], kind_class(b["kind"]))}</td>'
                    f'<td><a href="#{key}">{esc(b["signature"])}</a></td><td>{b["count"]}/{runs}</td>'
                    f'<td>{chart}</td></tr>')
        ex = b["example"]
        parts = [f'<section class="card" id="{key}"><h2>#{n} {esc(b["signature"])}</h2>',
                 f'<p>{badge(b["kind"], kind_class(b["kind"]))} reproduced {b["count"]}/{runs} times, '
                 f'{_span(b["first_run"], b["last_run"])}{_why(ex)}</p>{chart}',
                 f'<h3>Reproduce</h3><pre class="command">{esc(b["repro"])}</pre>']
        if b.get("fix"):
            parts.append(f'<p class="fix">{esc_code(b["fix"])}</p>')
        for title, text in (("Memory errors", ex.get("memory_errors")), ("Native backtraces", b["native_backtrace"]),
                            ("Python tracebacks", ex.get("python_tracebacks")), ("stderr (end)", ex.get("stderr_tail"))):
            if title.startswith("stderr") and text and text.strip() == (ex.get("python_tracebacks") or "").strip():
                continue  # all it said is the tracebacks just shown
            if text and text.strip():
                parts.append(f"<h3>{title}</h3><pre>{esc(text)}</pre>")
        sections.append("".join(parts) + "</section>")
    table = ('<table class="grid"><thead><tr><th>#</th><th>kind</th><th>signature</th><th>count</th>'
             f'<th>count over time</th></tr></thead><tbody>{"".join(rows)}</tbody></table>') if rows else \
        "<p>No crash, abort, memory error or hang recorded.</p>"
    body = (f'<h1>{esc(data["campaign"])}</h1><p>stress campaign: <code>{esc(" ".join(data["command"]))}</code>'
            f"<br>{runs} runs ({esc(kinds)})</p>{table}{''.join(sections)}")
    return page(f"finirace report {data['campaign']}", body, STYLE)


def _why(ex: dict[str, Any]) -> str:
    bits = [f"signal {ex['signal']}" if ex.get("signal") else "", ex.get("reason") or ""]
    text = "; ".join(b for b in bits if b)
    return f" — {esc(text)}" if text else ""


def lab_document(name: str, target: int | None, records: list, scenarios: dict[str, Any]) -> str:
    """The lab page: the conformance table, each row linked to its lanes.

    ``records`` are the stored :class:`~finirace.records.LabRunRecord`; ``scenarios``
    maps a scenario name to its :class:`~finirace.scenario.Scenario` (a missing one
    is drawn from the threads the run recorded).
    """
    from finirace.report.lab import rows

    groups: dict[tuple[str, str, str], list] = {}
    for rec in records:
        groups.setdefault((rec.scenario, rec.python, rec.detector), []).append(rec)
    keys = {g: anchor("run", n) for n, g in enumerate(groups)}
    trs = []
    for r in rows(records):
        key = keys[(r.scenario, r.python, r.detector)]
        outcome = r.outcome if r.runs == 1 else f"{r.outcome} — reproduced {r.reproduced}/{r.runs}"
        trs.append(f'<tr><td><a href="#{key}">{esc(r.scenario)}</a></td><td>{esc(r.version)}</td>'
                   f'<td>{esc(r.detector)}</td><td>{esc(outcome)}</td><td>{esc(r.predicted)}</td>'
                   f'<td>{badge(r.match, _grade_class(r.match))}</td></tr>')
    sections = [_lab_section(keys[g], recs[0], scenarios.get(g[0])) for g, recs in groups.items()]
    done = f"{len(records)}/{target}" if target else str(len(records))
    body = (f"<h1>{esc(name)}</h1><p>lab campaign: {done} runs. Each row links to its timeline.</p>"
            '<table class="grid"><thead><tr><th>scenario</th><th>python</th><th>detector</th><th>outcome</th>'
            f'<th>predicted</th><th>match</th></tr></thead><tbody>{"".join(trs)}</tbody></table>'
            f"{''.join(sections)}")
    return page(f"finirace report {name}", body, STYLE)


def _grade_class(grade: str) -> str:
    return {"yes": "grade-yes", "no": "grade-no", "weak": "grade-weak"}.get(grade, "")


def _lab_section(key: str, rec, scenario) -> str:
    o = rec.outcome
    ended = {t.name: t for t in o.threads}
    names = list(scenario.thread_names) if scenario is not None else [t.name for t in o.threads]
    lanes = []
    for name in names:
        t = ended.get(name)
        state = (t.outcome.value if t.outcome else "cut short") if t else "not recorded"
        last = t.last_step.index if t and t.last_step else None
        if scenario is not None:
            steps = [s.text for s in next(th for th in scenario.threads if th.name == name).steps]
        else:  # the file is gone or moved: the steps the run recorded are all there is
            steps = [""] * (last or 0) + [t.last_step.text] if t and t.last_step else []
        spans = []
        for i, text in enumerate(steps):
            if not text:
                continue
            if state == "finished" or (last is not None and i < last):
                cls = "done"
            elif last is not None and i == last:
                cls = "stopped" if state != "finished" else "done"
            else:
                cls = "never"
            title = f' title="{esc(state)}{(" in " + esc(t.where)) if t and t.where else ""}"' if cls == "stopped" else ""
            spans.append(f'<span class="{cls}"{title}>{esc(text)}</span>')
        where = f" in {esc(t.where)}" if t and t.where else ""
        lanes.append(f'<div class="who">{esc(name)}<small>{esc(state)}{where}</small></div>'
                     f'<div class="steps">{"".join(spans)}</div>')
    errors = "".join(f"<pre>{esc(chr(10).join(e.lines()))}</pre>" for e in o.memory_errors[:10])
    full = f' <a href="{esc(rec.html)}">full timeline</a>' if rec.html else ""
    reason = f" — {esc(o.reason)}" if o.reason else ""
    return (f'<section class="card" id="{key}"><h2>{esc(rec.scenario)} on {esc(rec.version)} ({esc(rec.detector)})'
            f'</h2><p>{badge(o.label, kind_class(o.label))}{reason}; predicted '
            f'{esc("; ".join(p.label for p in rec.predicted) or "nothing")} '
            f'({esc(rec.variant or "no era")}): {badge(rec.grade, _grade_class(rec.grade))}{full}</p>'
            f'<div class="lanes">{"".join(lanes)}</div>'
            f'{("<h3>Memory errors</h3>" + errors) if errors else ""}'
            f'{("<h3>Backtraces</h3><pre>" + esc(rec.backtraces[-6000:]) + "</pre>") if rec.backtraces else ""}'
            f'{("<h3>stderr (end)</h3><pre>" + esc(rec.stderr_tail[-3000:]) + "</pre>") if rec.stderr_tail.strip() else ""}'
            "</section>")


def campaign_document(store, campaign, data: dict[str, Any] | None = None) -> str:
    """The page of a stored campaign, stress or lab, read from ``store``."""
    from finirace.store import LAB

    if campaign.kind == LAB:
        records = store.lab_runs(campaign.id)
        return lab_document(campaign.name, campaign.target_runs, records, _scenarios(records))
    if data is None:
        from finirace.report.campaign import campaign_data

        data = campaign_data(store, campaign)
    finished: dict[int, float] = {}
    by_signature: dict[str, list[float]] = {}
    for run in store.runs(campaign.id):
        finished[run.index] = run.finished
        if run.signature:
            by_signature.setdefault(run.signature, []).append(run.finished)
    return stress_document(data, finished, by_signature)


def _scenarios(records: list) -> dict[str, Any]:
    """The scenarios the runs came from, where they can still be read (a file may be gone)."""
    from finirace.errors import UsageError
    from finirace.scenario.catalog import resolve

    out: dict[str, Any] = {}
    for rec in records:
        if rec.scenario in out:
            continue
        try:
            sc = resolve(rec.scenario_path or rec.scenario)
        except UsageError:
            sc = None
        out[rec.scenario] = sc if sc is not None and sc.name == rec.scenario else None
    return out


def _span(first: int, last: int) -> str:
    """Which runs a bucket fell in, said so that "1…5" is not read as five runs of it."""
    return f"in run {first}" if first == last else f"first in run {first}, last in run {last}"
