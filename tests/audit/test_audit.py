from __future__ import annotations

import sys

from finirace.audit import audit

PY = sys.executable


def test_daemon_thread_in_c_is_flagged(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(
        "import threading, time, zlib\n"
        "def squeeze():\n    while True:\n        zlib.compress(b'x' * 2000000)\n"
        "threading.Thread(target=squeeze, daemon=True, name='zipper').start()\n"
        "threading.Thread(target=time.sleep, args=(0.01,), name='short').start()\n"
        "time.sleep(0.2)\n"
    )
    report = audit([PY, str(prog)])
    assert report.recorded and report.exit.ok
    (t,) = [t for t in report.threads if t.name == "zipper"]
    assert t.daemon and "squeeze" in t.python_stack[-1]
    eras = {era: fate for era, _, fate in t.predictions}
    assert "take_gil" in eras["legacy"] and "pthread_exit" in eras["exit"]
    assert t.in_c is True and "daemon thread blocked in C with the GIL released" in t.flags


def test_program_with_no_threads(tmp_path):
    report = audit([PY, "-c", "pass"], gdb=False)
    assert report.recorded and report.threads == ()
