"""Proof on real programs, through finirace stress: abort at exit without the guard, never with it.

opencv-python-headless and duckdb from PyPI wheels (test.sh installs them in
one venv per interpreter), the lab's cxx-noexcept program built as an
extension module, on 3.11-3.13; the catalog's pure-Python daemon-at-exit
program on 3.10.  Stress runs them at its ``python`` perturbation level (the
one docs/fixing-applications.md measured; the default mixes levels).  Run
counts: 10 unguarded runs each, of which at least 9 must fail at exit (abort,
or crash where freed memory is caught being read), and 40 guarded runs each,
none of which may fail.  Why 40 is enough: a guard that left a failure rate
of 7.5% or more would show in 40 runs with 95% probability (rule of three),
so each program's rate falls from >= 90% to < 7.5% (at least 12-fold); one
that did nothing would pass 40 runs with probability 0.1**40; and the nine
programs run the same guard code, 360 guarded runs in all (the 3.10
program's crash, 1 run in 5 unguarded, would pass 40 runs with probability
0.8**40 ~ 1e-4).
"""

from __future__ import annotations

import os
import shutil

import pytest

from finirace.store import Store
from finirace.stress.examples import DAEMON_AT_EXIT
from finirace.stress.perturb import Perturbation
from finirace.stress.runner import CampaignSettings, open_campaign, run_campaign

from .programs import DUCKDB, GUARD_LINE, NOEXCEPT, OPENCV, WHEEL_VERSIONS, build_noexcept_ext, interpreter, venv_python

pytestmark = pytest.mark.slow

UNGUARDED, GUARDED = 10, 40


def _stress(tmp_path, name, python, program, runs, env_dir=None):
    script = tmp_path / f"{name}.py"
    script.write_text(program)
    with Store(tmp_path / "store.db") as store:
        settings = CampaignSettings(argv=(str(python), str(script)), runs=runs, jobs=2, timeout=30, seed=7,
                                    cwd=str(env_dir or tmp_path), perturbation=Perturbation("python"))
        campaign, settings = open_campaign(store, name, settings)
        final = run_campaign(store, campaign, settings)
        return final, store.kind_counts(campaign.id), [b.signature for b in store.buckets(campaign.id)]


def _prove(tmp_path, python, program, cwd=None):
    bare, bare_kinds, bare_buckets = _stress(tmp_path, "unguarded", python, program, UNGUARDED, cwd)
    assert bare.done == UNGUARDED
    # killed inside C++ at exit: an abort (std::terminate), or a crash where the perturbation's freed-memory
    # filling catches the same late thread reading what finalization freed; either way a failure at exit
    failed = bare_kinds.get("abort", 0) + bare_kinds.get("crash", 0)
    assert failed >= 0.9 * UNGUARDED, (bare_kinds, bare_buckets)
    guarded, kinds, buckets = _stress(tmp_path, "guarded", python, GUARD_LINE + program, GUARDED, cwd)
    assert guarded.done == GUARDED
    assert kinds == {"clean": GUARDED} and guarded.failures == 0, (kinds, buckets)


def _wheels(version):
    python = venv_python(version)
    return pytest.param(python, id=version, marks=pytest.mark.skipif(
        not python.exists(), reason=f"no venv with the wheels for {version}: run ./test.sh"))


@pytest.mark.parametrize("python", [_wheels(v) for v in WHEEL_VERSIONS])
@pytest.mark.parametrize("program", [pytest.param(OPENCV, id="opencv"), pytest.param(DUCKDB, id="duckdb")])
def test_wheel_program_aborts_at_exit_without_the_guard_and_never_with_it(python, program, tmp_path):
    _prove(tmp_path, python, program)


@pytest.mark.parametrize("version", WHEEL_VERSIONS)
def test_cxx_noexcept_extension_aborts_at_exit_without_the_guard_and_never_with_it(version, tmp_path):
    python = interpreter(version)
    if not os.path.exists(python) or shutil.which("g++") is None:
        pytest.skip(f"needs CPython {version} and g++")
    build_noexcept_ext(python, tmp_path)
    _prove(tmp_path, python, NOEXCEPT, cwd=tmp_path)


def test_pure_python_daemon_at_exit_on_310_never_crashes_with_the_guard(tmp_path):
    # unguarded, stress makes it crash in take_gil in about 1 run in 5
    # (tests/stress/test_stress_daemon_at_exit.py proves that side)
    python = interpreter("3.10.13")
    if not os.path.exists(python):
        pytest.skip("needs CPython 3.10.13")
    final, kinds, buckets = _stress(tmp_path, "guarded", python, GUARD_LINE + DAEMON_AT_EXIT, GUARDED)
    assert final.done == GUARDED
    assert kinds == {"clean": GUARDED}, (kinds, buckets)
