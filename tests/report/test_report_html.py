"""The HTML timeline of one lab run: lanes, bars, and every text escaped."""

from __future__ import annotations

from finirace.lab.codegen import generate
from finirace.lab.runner import LabRun, Marker
from finirace.outcome import RunKind, RunOutcome, StepRef, ThreadOutcome, ThreadResult
import html
import re

from finirace.report.html import _LABEL, timeline
from finirace.scenario.format import loads

EVIL = '<script>alert("x")</script>'


def _scenario():
    # the step's code must compile, so the markup rides in a string literal
    code = "s = '" + EVIL.replace('"', "") + "'"
    text = ('name = "evil"\n[threads]\nmain = ["init", "spawn w", "python \\"' + code
            + '\\"", "finalize"]\nw = ["ensure", "restore"]\n')
    return loads(text)


def test_lanes_bars_and_open_steps():
    sc = _scenario()
    prog = generate(sc)
    marks = (Marker(0, "main", -1, "S"), Marker(10, "main", 0, "b"), Marker(20, "main", 0, "a"),
             Marker(30, "w", -1, "S"), Marker(40, "w", 1, "b"), Marker(50, "main", 2, "b"),
             Marker(60, "main", 2, "a"), Marker(100, "main", -1, "E"))
    outcome = RunOutcome(RunKind.CLEAN, (ThreadResult("main", ThreadOutcome.FINISHED),
                                         ThreadResult("w", ThreadOutcome.HUNG, StepRef("w", 1, "restore"), "take_gil")))
    page = timeline(LabRun("evil", "/py", "3.8.18", "plain", outcome, marks, stderr=EVIL), prog)
    assert page.count('class="lane"') == 2
    assert "restore — never returned (hung)" in page  # the open bar's tooltip
    assert '>never returned (hung)</text>' in page  # a note on the bar, level, not in the rotated label
    # rotated labels are cut short enough to stay inside the picture (10px text, ~6px a character):
    # the last slot's label used to run off its right edge
    width = int(re.search(r'<svg [^>]*width="(\d+)"', page).group(1))
    labels = re.findall(r'<text x="([\d.]+)"[^>]*class="bar-label"[^>]*>([^<]*)</text>', page)
    assert labels and any(t.endswith("…") for _, t in labels)  # the long python step is cut
    for x, t in ((x, html.unescape(t)) for x, t in labels):
        assert len(t) <= _LABEL and float(x) + 6 * len(t) * 0.82 < width, (x, t)
    assert re.search(r"</b>;\s+run took", page) and " ;" not in page
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # loads nothing
