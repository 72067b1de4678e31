from __future__ import annotations

import os
import sys

import pytest

from finirace.audit import audit

PY = sys.executable


def test_daemon_thread_in_c_is_flagged(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(
        "import hashlib, threading, time\n"
        "def squeeze():\n    while True:\n        hashlib.pbkdf2_hmac('sha256', b'pw', b'salt', 20000000)\n"
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
    # seconds in one C call with the GIL released: gdb finds it there, not waiting for the GIL
    assert t.in_c is True and "daemon thread blocked in C with the GIL released" in t.flags
    assert t.state == "in C with the GIL released"


def test_program_with_no_threads(tmp_path):
    report = audit([PY, "-c", "pass"], gdb=False)
    assert report.recorded and report.threads == ()


def test_predictions_are_the_released_eras_of_the_model_with_their_fates():
    from finirace.audit import assess as _assess
    from finirace.detectors.backtrace import NativeFrame
    from finirace.model.variants import released

    frames = tuple(NativeFrame(f, language="c++" if "::" in f else "c")
                   for f in ("take_gil", "PyEval_RestoreThread", "worker::run", "start_thread"))
    entry = {"name": "w", "daemon": True, "python_stack": []}
    plain = _assess(entry, None)
    cxx = _assess(entry, frames)
    assert [(e, v) for e, v, _ in plain.predictions] == [(v.name, v.versions) for v in released()]
    for (era, _, fate), (_, _, with_cxx) in zip(plain.predictions, cxx.predictions):
        v = next(v for v in released() if v.name == era)
        assert fate == v.fate.daemon
        # C++ frames change the prediction exactly where the era's fate says so (pthread_exit unwinding)
        assert with_cxx == (f"{v.fate.daemon}; {v.fate.cxx}" if v.fate.cxx else v.fate.daemon)
    assert [e for e, _, f in cxx.predictions if "std::terminate" in f] == ["exit", "exit311", "exit312", "exit313"]
    joined = _assess({**entry, "daemon": False}, None)
    assert all("non-daemon" in f for _, _, f in joined.predictions)


def test_many_threads_do_not_deadlock_the_audit(tmp_path):
    # gdb's output for 200 threads is far more than a pipe holds; the process
    # gdb stops must not be the one reading it
    prog = tmp_path / "many.py"
    prog.write_text(
        "import threading, time\n"
        "def nap():\n    while True:\n        time.sleep(0.01)\n"
        "for i in range(200):\n    threading.Thread(target=nap, daemon=True, name='n%d' % i).start()\n"
        "time.sleep(0.2)\n"
    )
    report = audit([PY, str(prog)], timeout=90)
    assert report.recorded and not report.exit.timed_out, report.exit.describe()
    assert len(report.threads) == 200
    assert sum(1 for t in report.threads if t.native_top) >= 190  # gdb's stacks, matched to the threads


OLD = "/root/.pyenv/versions/3.7.16/bin/python3.7"


@pytest.mark.skipif(not os.path.exists(OLD), reason="needs pyenv's 3.7")
def test_threads_without_a_native_id_get_their_native_stack_by_pthread_id(tmp_path):
    # 3.6 and 3.7 have no Thread.native_id: gdb's "Thread 0x…" is Python's ident
    prog = tmp_path / "prog.py"
    prog.write_text("import threading, time\ndef nap():\n    while True:\n        time.sleep(0.05)\n"
                    "threading.Thread(target=nap, daemon=True, name='napper').start()\ntime.sleep(0.2)\n")
    report = audit([OLD, str(prog)])
    (t,) = [t for t in report.threads if t.name == "napper"]
    assert report.version[:2] == (3, 7)
    assert t.native_stack and t.native_id and "time_sleep" in [f.function for f in t.native_stack]


def test_a_non_daemon_thread_is_joined_first_so_its_cxx_frames_and_locks_are_no_danger():
    from finirace.audit.assess import HeldLock, assess
    from finirace.detectors.backtrace import NativeFrame

    frames = (NativeFrame("kernel", language="c"), NativeFrame("engine::run()", language="c++"),
              NativeFrame("_PyEval_EvalFrameDefault", language="c"))
    lock = HeldLock(7, "libreg.so", "`registry_lock`")
    entry = {"name": "w", "daemon": True, "python_stack": []}
    daemon = assess(entry, frames, [lock])
    joined = assess({**entry, "daemon": False}, frames, [lock])
    assert any(f.startswith("C++ frames under a GIL release") for f in daemon.flags)
    assert any(f.startswith("holds `registry_lock`") for f in daemon.flags) and daemon.fix
    assert joined.flags == ("C++ frames on its stack",) and not joined.fix
