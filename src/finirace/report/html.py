"""An HTML timeline of one lab run: one lane per thread, each step a bar in time.

Why one self-contained file: it is attached to bug reports and opened from CI
artifacts, so it carries its own CSS and SVG and loads nothing.  Every piece
of text that came from a scenario, an interpreter or a run (step texts, names,
reasons, memory-error frames) goes through :func:`html.escape`: a scenario is
user input, and a report must not run it.

A step is drawn from its ``b`` marker to its ``a`` marker; a step that began
and never returned is drawn to the end of the run and hatched, labelled with
the thread's outcome (``exited``, ``hung``, ``deadlocked``, cut short).  The
axis is the order of the markers, one slot each, not to scale: a finalization
race is a matter of what came before what, and the steps that matter last
microseconds next to a 100 ms settle.  Each bar's tooltip gives real times.
"""

from __future__ import annotations

from finirace.lab.codegen import AFTER, BEFORE, Program
from finirace.lab.runner import LabRun
from finirace.report.page import esc as _e
from finirace.report.page import page

_LANE = 120
_TOP = 90
_LEFT = 150
_WIDTH = 900
_RIGHT = 200  # room right of the last slot for its rotated label and an open step's note
_LABEL = 34  # a bar's rotated label, in characters: longer ones are cut (the tooltip has it whole),
# so that at 10px and -35° it stays in the right margin and below the lane above


def timeline(run: LabRun, program: Program) -> str:
    """The page for one run, as a string."""
    o = run.outcome
    marks = run.markers
    t0 = min((m.time_ns for m in marks), default=0)
    t1 = max((m.time_ns for m in marks), default=t0 + 1)
    span = max(t1 - t0, 1)
    slots = {t: n for n, t in enumerate(sorted({m.time_ns for m in marks}))}
    step_w = _WIDTH / max(len(slots) - 1, 1)

    def x(t: int) -> float:
        return _LEFT + slots.get(t, 0) * step_w

    def ms(t: int) -> str:
        return f"{(t - t0) / 1e6:.3f} ms"

    outcomes = {t.name: t for t in o.threads}
    svg: list[str] = []
    height = _LANE * len(program.threads) + _TOP
    for lane, name in enumerate(program.threads):
        y = _TOP + lane * _LANE
        res = outcomes.get(name)
        state = (res.outcome.value if res and res.outcome else "cut short") if res else ""
        svg.append(f'<text x="8" y="{y + 22}" class="lane">{_e(name)}</text>')
        svg.append(f'<text x="8" y="{y + 36}" class="state">{_e(state)}</text>')
        svg.append(f'<line x1="{_LEFT}" y1="{y + 18}" x2="{_LEFT + _WIDTH}" y2="{y + 18}" class="axis"/>')
        open_steps: dict[int, int] = {}
        ti = program.threads.index(name)
        for m in (m for m in marks if m.thread == name):
            if m.phase == BEFORE:
                open_steps[m.step] = m.time_ns
            elif m.phase == AFTER and m.step in open_steps:
                start = open_steps.pop(m.step)
                svg.append(_bar(x(start), x(m.time_ns), y, program.steps[ti][m.step].text, "step",
                                f"{ms(start)} to {ms(m.time_ns)}"))
            elif m.phase in ("S", "F", "E"):
                word = {"S": "start", "F": "steps done", "E": "thread ended"}[m.phase]
                svg.append(f'<circle cx="{x(m.time_ns):.1f}" cy="{y + 18}" r="3" class="ev-{m.phase}">'
                           f'<title>{_e(name)}: {_e(word)} at {_e(ms(m.time_ns))}</title></circle>')
        for step, start in open_steps.items():
            text = program.steps[ti][step].text
            svg.append(_bar(x(start), _LEFT + _WIDTH, y, text, "open",
                            f"from {ms(start)}", f"{text} — never returned ({state})"))
            svg.append(f'<text x="{x(start) + 4:.1f}" y="{y + 22}" class="note">never returned ({_e(state)})</text>')
    details = [f"<li><b>{_e(t.name)}</b>: {_e(t.outcome.value if t.outcome else 'cut short')}"
               f", last step {_e(t.last_step)}{(' in ' + _e(t.where)) if t.where else ''}</li>" for t in o.threads]
    errors = "".join(f"<pre>{_e(chr(10).join(e.lines()))}</pre>" for e in o.memory_errors[:20])
    title = f"{run.scenario} on {run.version} ({run.detector})"
    style = """
.lane { font-weight: bold; font-size: 13px; } .state { font-size: 11px; fill: #555; }
.axis { stroke: #ccc; } .step { fill: #6a9fd8; } .open { fill: url(#hatch); stroke: #c33; }
.bar-label { font-size: 10px; }
.note { font-size: 10px; font-weight: bold; fill: #700; paint-order: stroke; stroke: #fff; stroke-width: 3px; } .ev-E { fill: #333; } .ev-S { fill: #3a3; } .ev-F { fill: #36c; }
"""
    body = f"""<h1>{_e(title)}</h1>
<p>outcome: <b>{_e(o.label)}</b>{(' — signal ' + _e(o.signal)) if o.signal else ''}{(' — ' + _e(o.reason)) if o.reason else ''};
run took {run.duration * 1000:.1f} ms; {span / 1e6:.3f} ms from the first marker to the last.
The axis is marker order, not to scale: hover a bar for its times.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="{_LEFT + _WIDTH + _RIGHT}" height="{height}" role="img">
<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<rect width="3" height="6" fill="#e99"/></pattern></defs>
{''.join(svg)}
</svg>
<h2>Threads</h2><ul>{''.join(details)}</ul>
{('<h2>Memory errors</h2>' + errors) if errors else ''}
{('<h2>stderr</h2><pre>' + _e(run.stderr[-4000:]) + '</pre>') if run.stderr.strip() else ''}"""
    return page(title, body, style)


def _bar(x0: float, x1: float, y: int, text: str, cls: str, when: str, tip: str | None = None) -> str:
    w = max(x1 - x0, 3.0)
    label = text if len(text) <= _LABEL else text[:_LABEL - 1] + "…"
    return (f'<g><rect x="{x0:.1f}" y="{y + 8}" width="{w:.1f}" height="20" class="{cls}">'
            f'<title>{_e(tip or text)} ({_e(when)})</title></rect>'
            f'<text x="{x0 + 2:.1f}" y="{y + 4}" class="bar-label" transform="rotate(-35 {x0 + 2:.1f} {y + 4})">'
            f'{_e(label)}</text></g>')
