"""``finirace audit``: a run that fails, hangs or is not Python says what happened."""

from __future__ import annotations

import sys

PY = sys.executable


def test_a_syntax_error_is_shown_and_fails_the_audit(cli):
    p = cli("audit", "--", PY, "-c", "syntax error(")
    assert p.returncode == 1, p.stdout
    assert "run exited with status 1" in p.stdout and "SyntaxError" in p.stdout


def test_a_hanging_program_is_named_a_hang_with_its_stacks(cli):
    p = cli("audit", "--timeout", "3", "--", PY, "-c", "import time\ndef wait_forever():\n    time.sleep(600)\nwait_forever()")
    assert p.returncode == 1
    assert "did not end within its time limit" in p.stdout and "finalization never started" in p.stdout
    assert "time_sleep" in p.stdout  # where it hung, from gdb
    assert "Python 3 program" not in p.stdout


def test_a_program_that_is_not_python_is_one_line(cli):
    line = cli.one_line(cli("audit", "--", "true"))
    assert "true exited with status 0 without loading finirace's hook" in line


def test_a_program_that_ends_before_finalization_says_so(cli):
    p = cli("audit", "--", PY, "-c", "import os; os._exit(3)")
    assert p.returncode == 1
    assert "exited with status 3 before its finalization started" in p.stdout
