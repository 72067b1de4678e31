"""``finirace check --html FILE``: every counterexample as a page, one lane per thread.

The terminal draws a counterexample as columns of text; the page draws the
same grid (one lane per thread, one row per atomic step, read top to bottom)
and adds what text cannot: the row that made the bad access is highlighted,
and the steps that freed and allocated the block it touched are marked and
linked to it both ways, so "who freed this?" is one click.  A preemption is
marked in the margin of its row with the thread it switched away from.

Finding those two steps: the model's memory error names them as accesses
(thread, C function, scenario step); they are the latest step of the trace
before the bad access with the same thread, function and scenario step (the
free), and the earliest such step (the allocation).
"""

from __future__ import annotations

from finirace.explore.trace import Counterexample
from finirace.explore.verdict import Verdict
from finirace.outcome import Access
from finirace.report.check import cell_lines, outcome_lines, replay_command
from finirace.report.page import anchor, badge, esc, kind_class, page

STYLE = """
table.trace { border-collapse: separate; border-spacing: 0; margin: .6em 0 1em; min-width: 60%; }
table.trace th.lane { position: sticky; top: 0; background: #223047; color: #fff; padding: .45em .8em;
                      text-align: left; font-size: 13.5px; min-width: 22em; }
table.trace th.num { background: #223047; color: #fff; width: 3.2em; }
table.trace td { padding: .28em .7em; vertical-align: top; border-bottom: 1px solid #e3e7ee; }
table.trace td.num { color: var(--muted); text-align: right; font-variant-numeric: tabular-nums;
                     white-space: nowrap; }
table.trace td.cell:nth-child(even) { background: var(--lane-a); }
table.trace td.cell:nth-child(odd) { background: var(--lane-b); }
table.trace td.step { font-weight: 500; }
table.trace td.step .api { font-weight: 700; color: #123a6b; }
table.trace td.step .fn { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
table.trace tr.preempt td { border-top: 2px dashed #e08a00; }
.preempt-mark { color: #c76a00; font-weight: 700; }
.preempt-note { display: block; color: #a35600; font-size: 12px; font-weight: 600; }
table.trace td.bad-access { background: var(--bad-bg) !important; outline: 2px solid var(--bad);
                            outline-offset: -2px; }
table.trace td.freed { background: var(--free-bg) !important; outline: 2px solid var(--free); outline-offset: -2px; }
table.trace td.allocated { background: var(--alloc-bg) !important; outline: 2px solid var(--alloc);
                           outline-offset: -2px; }
.tag { display: inline-block; margin-top: .25em; margin-right: .4em; padding: 0 .4em; border-radius: 3px;
       font-size: 12px; font-weight: 700; color: #fff; text-decoration: none; }
.tag.bad { background: var(--bad); } .tag.free { background: var(--free); } .tag.alloc { background: var(--alloc); }
:target td.cell.step { box-shadow: inset 0 0 0 3px #f2b400; }
"""


def _find(cx: Counterexample, a: Access | None, before: int, latest: bool) -> int | None:
    """The trace index of the step that made access ``a`` (see the module's docstring)."""
    if a is None:
        return None
    found = None
    for n, st in enumerate(cx.trace[:before]):
        tr = st.transition
        if tr.thread == a.thread and tr.function == a.function and (a.step is None or tr.step == a.step):
            if not latest:
                return n
            found = n
    return found


def _bad_access(cx: Counterexample) -> tuple[int | None, int | None, int | None]:
    """(bad access, free, allocation) as trace indexes, for a memory-error counterexample."""
    if not cx.outcome.memory_errors:
        return None, None, None
    err = cx.outcome.memory_errors[0]
    bad = _find(cx, err.access, len(cx.trace), latest=True)
    if bad is None:
        return None, None, None
    return bad, _find(cx, err.freed_by, bad, latest=True), _find(cx, err.allocated_by, bad, latest=False)


def counterexample_section(v: Verdict, cx: Counterexample, threads: tuple[str, ...], ref: str, key: str) -> str:
    """One counterexample: heading, replay command, the lanes, how it ended."""
    bad, freed, alloc = _bad_access(cx)
    row_id = lambda n: anchor(key, "step", n + 1)  # noqa: E731 - our own words and numbers
    head = ["<tr><th class=\"num\">#</th>"] + [f'<th class="lane">{esc(t)}</th>' for t in threads] + ["</tr>"]
    rows = []
    current: dict[str, object] = {}
    for n, st in enumerate(cx.trace):
        tr = st.transition
        started = tr.step is not None and current.get(tr.thread) != tr.step
        if started:
            current[tr.thread] = tr.step
        text = (f'<span class="api">{esc(tr.step.text)}</span> › ' if started and tr.step else "")
        text += f'<span class="fn">{esc(tr.function)}</span>' + (f": {esc(tr.note)}" if tr.note else "")
        cls = ["cell", "step"]
        tags = []
        if n == bad:
            cls.append("bad-access")
            tags.append('<span class="tag bad">bad access</span>')
            if freed is not None:
                tags.append(f'<a class="tag free freed-by" href="#{row_id(freed)}">freed by #{freed + 1}</a>')
            if alloc is not None:
                tags.append(f'<a class="tag alloc allocated-by" href="#{row_id(alloc)}">allocated by #{alloc + 1}</a>')
        if n == freed:
            cls.append("freed")
            tags.append(f'<a class="tag free" href="#{row_id(bad)}">frees the block read at #{bad + 1}</a>')
        if n == alloc:
            cls.append("allocated")
            tags.append(f'<a class="tag alloc" href="#{row_id(bad)}">allocates the block read at #{bad + 1}</a>')
        if st.preemption:
            text = f'<span class="preempt-note">↯ preempts {esc(st.preempted)}</span>' + text
        cell = f'<td class="{" ".join(cls)}">{text}{"<br>" + "".join(tags) if tags else ""}</td>'
        lane = threads.index(tr.thread) if tr.thread in threads else 0
        cells = ['<td class="cell"></td>'] * len(threads)
        cells[lane] = cell
        mark = ' <span class="preempt-mark" title="preemption">↯</span>' if st.preemption else ""
        rows.append(f'<tr id="{row_id(n)}" class="{"preempt" if st.preemption else ""}">'
                    f'<td class="num">{n + 1}{mark}</td>{"".join(cells)}</tr>')
    p = cx.preemptions
    return f"""<section class="card" id="{key}">
<h2>{esc(v.scenario)} under {esc(v.variant)}: {badge(cx.outcome.label, kind_class(cx.outcome.label))}</h2>
<p class="muted">{p} preemption{'s' if p != 1 else ''}, {cx.steps} steps, schedule <code>{esc(cx.schedule)}</code></p>
<pre class="command">{esc(replay_command(v, cx, ref))}</pre>
<table class="trace"><thead>{''.join(head)}</thead><tbody>
{chr(10).join(rows)}
</tbody></table>
<pre>{esc(chr(10).join(outcome_lines(cx.outcome)))}</pre>
</section>"""


def document(verdicts: list[Verdict], variants: list[str], threads_of: dict[str, tuple[str, ...]],
             refs: dict[str, str], strict: bool = False) -> str:
    """The whole page: the scenario × variant table, each cell linking to its counterexamples
    (an expected outcome a bounded search did not reach is a warning, as on the terminal)."""
    cells: dict[str, dict[str, Verdict]] = {}
    for v in verdicts:
        cells.setdefault(v.scenario, {})[v.variant] = v
    keys = {(v.scenario, v.variant, cx.schedule): anchor("cx", i, k)
            for i, v in enumerate(verdicts) for k, cx in enumerate(v.counterexamples)}
    rows = []
    for name, row in cells.items():
        tds = []
        for var in variants:
            v = row.get(var)
            if v is None:
                tds.append("<td></td>")
                continue
            items = []
            lines = cell_lines(v, strict)
            for line, cx in zip(lines, v.counterexamples):
                items.append(f'<a href="#{keys[(v.scenario, v.variant, cx.schedule)]}">{esc(line)}</a>')
            items.extend(esc(line) for line in lines[len(v.counterexamples):])
            grade = "grade-no" if v.fails(strict) else "grade-warn" if v.matches is False else ""
            tds.append(f'<td class="{grade}">{"<br>".join(items)}</td>')
        rows.append(f"<tr><th>{esc(name)}</th>{''.join(tds)}</tr>")
    table = (f'<table class="grid"><thead><tr><th>scenario</th>{"".join(f"<th>{esc(x)}</th>" for x in variants)}'
             f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    sections = [counterexample_section(v, cx, threads_of.get(v.scenario, ()), refs.get(v.scenario, v.scenario),
                                       keys[(v.scenario, v.variant, cx.schedule)])
                for v in verdicts for cx in v.counterexamples]
    bad = sum(1 for v in verdicts if v.fails(strict))
    warned = sum(1 for v in verdicts if v.matches is False and not v.fails(strict))
    note = (f", {warned} with expected outcomes this search did not reach (warnings: it did not try every run)"
            if warned else "")
    body = (f"<h1>finirace check</h1><p>{len(verdicts)} verdict{'s' if len(verdicts) != 1 else ''}, {bad} differ from expectations{note}. "
            f"Each outcome links to its counterexample: one lane per thread, one row per atomic step; "
            f"↯ marks a preemption; a memory error's bad access is outlined in red, linked to the steps "
            f"that freed and allocated the block.</p>{table}{''.join(sections)}")
    return page("finirace check", body, STYLE)
