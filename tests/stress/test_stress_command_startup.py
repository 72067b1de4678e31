"""``finirace stress`` builds its parser without importing the campaign machinery."""

from __future__ import annotations

import subprocess
import sys

from finirace.commands import stress as stress_command
from finirace.stress.perturb import LEVELS


def test_parser_choices_are_the_real_ones():
    # the command keeps its own copy of the levels so that --help imports nothing heavy
    assert stress_command.LEVELS == LEVELS
    assert set(stress_command.DETECTORS) == {"plain", "pymalloc-debug", "valgrind", "gdb"}  # not the lab's assert


def test_stress_help_imports_neither_rich_nor_sqlite_nor_the_runner():
    code = (
        "import sys\n"
        "from finirace import cli\n"
        "try:\n    cli.main(['stress', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('rich', 'sqlite3', 'finirace.stress.runner', 'finirace.detectors.base',"
        " 'finirace.proc', 'dataclasses', 'distributed')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "--perturb" in out
    assert out.strip().splitlines()[-1] == "[]"


def test_a_bad_detector_is_still_one_line_and_exit_2(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "finirace", "stress", "--db", str(tmp_path / "s.db"), "--detector", "nope", "--", "true"],
        capture_output=True, text=True,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "invalid choice: 'nope'" in r.stderr
