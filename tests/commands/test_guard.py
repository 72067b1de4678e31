"""``finirace guard``: prints where finirace_guard.h is, for a build line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _finirace(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    return subprocess.run([sys.executable, "-m", "finirace", "guard", *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_include_prints_the_directory_of_the_header():
    p = _finirace("--include")
    assert p.returncode == 0, p.stderr
    folder = Path(p.stdout.strip())
    assert (folder / "finirace_guard.h").is_file()
    assert "FiniRaceGuard_FromView" in (folder / "finirace_guard.h").read_text()


def test_cflags_and_header():
    inc = _finirace("--include").stdout.strip()
    assert _finirace("--cflags").stdout.strip() == f"-I{inc}"
    assert _finirace("--header").stdout.strip() == str(Path(inc) / "finirace_guard.h")


def test_no_option_is_one_line_and_status_2():
    p = _finirace()
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "required" in p.stderr
    assert "Traceback" not in p.stderr
