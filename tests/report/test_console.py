"""Piped output fits ``$COLUMNS``, else 100 columns; reproduction commands are whole lines of their own."""

from __future__ import annotations

import sys

import pytest

COMMAND_LINES = ("replay: ", "reproduce: ")  # printed whole, however wide: a wrapped command cannot be pasted


def _fits(text: str, width: int) -> None:
    wide = [ln for ln in text.splitlines() if len(ln) > width and not ln.startswith(COMMAND_LINES)]
    assert not wide, f"{len(wide)} lines wider than {width}: {wide[:3]}"


@pytest.fixture
def stored(cli, tmp_path):
    """A stress campaign with one bucket, and a lab campaign of one run."""
    crash = tmp_path / "crash_at_exit_with_a_long_name.py"
    crash.write_text("import os\nos.abort()\n")
    p = cli("stress", "--runs", "2", "-j", "1", "--campaign", "stress-c", "--", sys.executable, crash)
    assert p.returncode == 1, p.stderr
    p = cli("lab", "seed-ordered", "--campaign", "lab-c", "--timeout", "20")
    assert p.returncode in (0, 1), p.stderr
    return crash


@pytest.mark.parametrize("columns", [None, "80", "132"])
def test_piped_output_fits_the_width(cli, stored, columns):
    env = dict(cli.env)
    env.pop("COLUMNS", None)
    if columns:
        env["COLUMNS"] = columns
    width = int(columns or 100)
    runs = [("check",), ("check", "seed", "ensure-after", "-v"), ("report", "stress-c"), ("report", "lab-c"), ("runs",)]
    for args in runs:
        p = cli(*args, env=env)
        assert p.returncode in (0, 1), (args, p.stderr)
        _fits(p.stdout, width)
        assert max(len(ln) for ln in p.stdout.splitlines()) > width * 0.6, args  # it uses the room it has
    report = cli("report", "stress-c", env=env).stdout
    (repro,) = [ln for ln in report.splitlines() if ln.startswith("reproduce: ")]
    assert repro.startswith("reproduce: finirace stress ") and repro.endswith(str(stored))
    assert "│" not in repro
    check = cli("check", "seed", "-v", env=env).stdout
    assert any(ln.startswith("replay: finirace check seed --variant ") for ln in check.splitlines())
