"""Proof on real programs, through finirace stress: fail at exit without the guard, never with it.

opencv-python-headless and duckdb from PyPI wheels (test.sh installs them in
one venv per interpreter), the lab's cxx-noexcept program built as an
extension module, on 3.11-3.13; a pure-Python program with busy daemon
threads on 3.10.  Stress runs them at its ``python`` perturbation level (the
one docs/fixing-applications.md measured; the default mixes levels).

Wheel and extension programs: 10 unguarded runs each, of which at least 9
must fail at exit (abort, or crash where freed memory is caught being read),
and 40 guarded runs each, none of which may fail.  Why 40 is enough: a guard
that left a failure rate of 7.5% or more would show in 40 runs with 95%
probability (rule of three), so each program's rate falls from >= 90% to
< 7.5% (at least 12-fold); one that did nothing would pass 40 runs with
probability 0.1**40; and the programs run the same guard code.

The 3.10 program: 40 unguarded runs, of which at least 38 must crash in
take_gil, and 100 guarded runs, none of which may fail.  38 of 40 is a
one-sided 95% lower bound of 85% on the crash rate; a program crashing in
90% of runs would pass with probability 0.22, one at 99% fails it with
probability 0.008 (docs/fixing-applications.md has the long measurement).
100 clean guarded runs bound what the guard leaves below 3% (95%).  Both
campaigns run 4 jobs on the 2 cores: the runs wait in part (exit delays,
the exit window), and more contention only helps the unguarded side.
"""

from __future__ import annotations

import os
import shutil

import pytest

from finirace.store import Store
from finirace.stress.perturb import Perturbation
from finirace.stress.runner import CampaignSettings, open_campaign, run_campaign

from .programs import BUSY_DAEMONS, DUCKDB, GUARD_LINE, NOEXCEPT, OPENCV, WHEEL_VERSIONS, build_noexcept_ext, interpreter, venv_python

pytestmark = pytest.mark.slow

UNGUARDED, GUARDED = 10, 40


def _stress(tmp_path, name, python, program, runs, env_dir=None, jobs=2):
    script = tmp_path / f"{name}.py"
    script.write_text(program)
    with Store(tmp_path / "store.db") as store:
        settings = CampaignSettings(argv=(str(python), str(script)), runs=runs, jobs=jobs, timeout=30, seed=7,
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


def test_pure_python_daemons_on_310_crash_at_exit_without_the_guard_and_never_with_it(tmp_path):
    python = interpreter("3.10.13")
    if not os.path.exists(python):
        pytest.skip("needs CPython 3.10.13")
    bare, bare_kinds, bare_buckets = _stress(tmp_path, "unguarded", python, BUSY_DAEMONS, 40, jobs=4)
    assert bare.done == 40
    assert bare_kinds.get("crash", 0) >= 38, (bare_kinds, bare_buckets)
    # the crash is 3.10's take_gil reading the freed interpreter, not something else
    assert bare_buckets and all("take_gil" in b for b in bare_buckets), bare_buckets
    guarded, kinds, buckets = _stress(tmp_path, "guarded", python, GUARD_LINE + BUSY_DAEMONS, 100, jobs=4)
    assert guarded.done == 100
    assert kinds == {"clean": 100} and guarded.failures == 0, (kinds, buckets)
