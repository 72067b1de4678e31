"""Audit and stress name the exit guard as the fix when a daemon thread was in C or C++ at exit."""

from __future__ import annotations

import io
import os
import shutil

import pytest
from rich.console import Console

from finirace.audit import audit
from finirace.audit.assess import IN_C, WAITING_GIL
from finirace.guard.advice import FIX, LINE, guard_fixes
from finirace.report.campaign import buckets_table, campaign_data
from finirace.store import Store
from finirace.stress.runner import CampaignSettings, open_campaign, run_campaign

from .programs import NOEXCEPT, build_noexcept_ext, interpreter


@pytest.mark.parametrize(
    "kind, reason, text, fixes",
    [
        ("abort", "terminate called without an active exception", "", True),
        ("abort", "", "FATAL: exception not rethrown", True),
        ("abort", "terminate called after throwing an instance of '\x03'", "", True),  # duckdb, measured
        ("abort", "terminate called after throwing an instance of 'std::runtime_error'", "", False),
        ("crash", "", "crash SIGSEGV | COMPUTE_EVAL_BREAKER | RESET_GIL_DROP_REQUEST | take_gil", True),
        ("timeout", "no exit within 30s", "#0 PyThread_hang_thread\n#1 take_gil", True),
        ("crash", "", "crash SIGSEGV | PyGILState_Ensure | worker", False),  # a C thread: the header's case
        ("abort", "Fatal Python error: _enter_buffered_busy", "", False),
        ("clean", "", "take_gil", False),
    ],
)
def test_which_failures_the_guard_fixes(kind, reason, text, fixes):
    assert guard_fixes(kind, reason, text) is fixes


def test_the_fix_names_the_one_line():
    assert LINE in FIX and "FINIRACE_GUARD=1" in FIX


def test_audit_names_the_guard_for_a_daemon_thread_in_c(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(
        "import threading, time, zlib\n"
        "def squeeze():\n    while True:\n        zlib.compress(b'x' * 2000000)\n"
        "threading.Thread(target=squeeze, daemon=True, name='zipper').start()\n"
        "threading.Thread(target=time.sleep, args=(0.01,), name='short').start()\n"
        "time.sleep(0.2)\n"
    )
    import sys

    report = audit([sys.executable, str(prog)])
    (zipper,) = [t for t in report.threads if t.name == "zipper"]
    # at the snapshot it is inside zlib with the GIL released, or just back from it and waiting for the GIL
    assert zipper.state in (IN_C, WAITING_GIL) and zipper.fix == FIX
    assert all(t.fix == "" for t in report.threads if not t.daemon)


def test_a_stress_bucket_of_the_cxx_noexcept_abort_names_the_guard(tmp_path):
    python = interpreter("3.12.1")
    if not os.path.exists(python) or shutil.which("g++") is None:
        pytest.skip("needs CPython 3.12.1 and g++")
    build_noexcept_ext(python, tmp_path)
    script = tmp_path / "prog.py"
    script.write_text(NOEXCEPT)
    with Store(tmp_path / "store.db") as store:
        settings = CampaignSettings(argv=(python, str(script)), runs=4, jobs=2, timeout=30, seed=3, cwd=str(tmp_path))
        campaign, settings = open_campaign(store, "noexcept", settings)
        run_campaign(store, campaign, settings)
        data = campaign_data(store, campaign)
    assert data["buckets"] and all(b["fix"] == FIX for b in data["buckets"]), [b["signature"] for b in data["buckets"]]
    out = io.StringIO()
    buckets_table(data, Console(file=out, width=200))
    assert LINE in out.getvalue()
