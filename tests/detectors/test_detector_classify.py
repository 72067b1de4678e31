from __future__ import annotations

import sys

from finirace import detectors, proc
from finirace.detectors.classify import classify
from finirace.outcome import RunKind

PY = sys.executable


def _classify(argv, **kw):
    return classify(proc.run(argv, timeout=kw.pop("timeout", 60), **kw))


def test_zero_exit_is_clean_and_an_ordinary_failure_is_failed():
    assert _classify([PY, "-c", "pass"]).kind is RunKind.CLEAN
    failed = _classify([PY, "-c", "raise SystemExit(4)"])
    assert failed.kind is RunKind.FAILED and failed.exit_code == 4 and failed.reason == "exit status 4"
    missing_script = _classify([PY, "/no/such/script.py"])
    assert missing_script.kind is RunKind.FAILED and missing_script.exit_code == 2


def test_segfault_is_a_crash():
    out = _classify([PY, "-X", "faulthandler", "-c", "import ctypes; ctypes.string_at(0)"])
    assert out.kind is RunKind.CRASH and out.signal == "SIGSEGV"
    assert out.reason == ""  # faulthandler's "Segmentation fault" is the signal, not a reason


def test_fatal_python_error_is_an_abort_with_its_text():
    out = _classify([PY, "-c", "import ctypes; ctypes.pythonapi.Py_FatalError(b'tstate freed at 0x1234')"])
    assert out.kind is RunKind.ABORT and out.signal == "SIGABRT"
    assert out.reason.startswith("Fatal Python error: ") and "tstate freed at 0x…" in out.reason


def test_cxx_terminate_is_an_abort(programs):
    out = _classify([str(programs["terminate"])])
    assert out.kind is RunKind.ABORT and out.reason.startswith("terminate called")


def test_failed_assertion_is_an_abort(programs):
    out = _classify([str(programs["assert"])])
    assert out.kind is RunKind.ABORT and out.reason == "Assertion `finalizing == 0' failed"


def test_timeout_and_missing_command():
    assert _classify([PY, "-c", "import time; time.sleep(60)"], timeout=0.5).kind is RunKind.TIMEOUT
    missing = _classify(["/no/such/program"])
    assert missing.kind is RunKind.FAILED and "could not start" in missing.reason


def test_pymalloc_debug_catches_a_double_free(tmp_path):
    code = "import ctypes; p = ctypes.pythonapi.PyMem_Malloc; p.restype = ctypes.c_void_p; f = ctypes.pythonapi.PyMem_Free; f.argtypes = [ctypes.c_void_p]; b = p(16); f(b); f(b)"
    det = detectors.get("pymalloc-debug")
    prepared = det.prepare([PY, "-c", code], None, tmp_path)
    assert prepared.env["PYTHONMALLOC"] == "debug"
    out = det.interpret(prepared, proc.run(prepared.argv, env=prepared.env, timeout=60)).outcome
    # the debug allocator notices the second free (it aborts or faults, by version)
    assert out.kind in (RunKind.ABORT, RunKind.CRASH)
    assert out.reason.startswith(("pymalloc debug", "Fatal Python error"))


def test_python_tracebacks_of_every_thread():
    code = (
        "import threading, time, ctypes\n"
        "def worker():\n    time.sleep(30)\n"
        "threading.Thread(target=worker, daemon=True).start(); time.sleep(0.2); ctypes.string_at(0)\n"
    )
    r = proc.run([PY, "-X", "faulthandler", "-c", code], timeout=60)
    dump = detectors.python_tracebacks(r.stderr)
    assert "Current thread 0x" in dump and 'line 3 in worker' in dump


def test_a_shim_line_landed_inside_a_fatal_error_message_does_not_become_its_reason():
    """The stress shim's tagged line written between the pieces of a message (as a second crashing thread's may be)."""
    code = ("import os; os.write(2, b'Fatal Python error: '); os.write(2, b'==finirace-bt== T7 signal 6\\n');"
            " os.write(2, b'PyThreadState_Get: no current thread\\n'); os.abort()")
    out = _classify([PY, "-c", code])
    assert out.kind is RunKind.ABORT and out.reason == "Fatal Python error: PyThreadState_Get: no current thread", out
