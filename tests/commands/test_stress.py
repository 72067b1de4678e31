"""``finirace stress`` writes the same reports as ``finirace report``: JSON, JUnit XML and HTML, from one run."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

# aborts with a message holding markup, so the HTML must escape what the target printed
ABORTS = "import os, sys; sys.stderr.write('Fatal Python error: <b>boom</b> & more\\n'); sys.stderr.flush(); os.abort()"


def _stress(tmp_path, *options: str, target: tuple[str, ...] = (sys.executable, "-c", ABORTS)):
    return subprocess.run(
        [sys.executable, "-m", "finirace", "stress", "--db", str(tmp_path / "s.db"), "--runs", "2", "-j", "2",
         "--perturb", "none", "--campaign", "outputs", *options, "--", *target],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )


def test_json_junit_and_html_from_one_campaign(tmp_path):
    junit, html = tmp_path / "r.xml", tmp_path / "r.html"
    r = _stress(tmp_path, "--json", "--junit", str(junit), "--html", str(html))
    assert r.returncode == 1, r.stderr  # a campaign with a failure bucket fails CI
    data = json.loads(r.stdout)
    assert data["campaign"] == "outputs" and data["runs"] == 2
    assert data["buckets"] and all(b["kind"] == "abort" for b in data["buckets"]), data["buckets"]
    cases = ET.parse(junit).getroot().iter("testcase")
    assert any(c.find("failure") is not None for c in cases)
    page = html.read_text()
    assert "&lt;b&gt;boom&lt;/b&gt;" in page and "<b>boom</b>" not in page
    # the store holds what the reports say: `finirace report` gives the same JSON
    again = subprocess.run([sys.executable, "-m", "finirace", "report", "--db", str(tmp_path / "s.db"), "outputs", "--json"],
                           capture_output=True, text=True, timeout=120)
    assert json.loads(again.stdout)["buckets"] == data["buckets"]


def test_an_unwritable_report_is_one_line_before_any_run(tmp_path):
    r = _stress(tmp_path, "--html", str(tmp_path / "no" / "such" / "r.html"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "no such directory" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "s.db").exists() or "outputs" not in subprocess.run(
        [sys.executable, "-m", "finirace", "runs", "--db", str(tmp_path / "s.db")], capture_output=True, text=True).stdout
