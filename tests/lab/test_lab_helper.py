"""The guard helper's catalog scenarios on every installed 3.8-3.13, against the
unguarded cases they fix, in one test run.

``seed-helper``, ``ensure-after-helper``, ``cxx-noexcept-helper``,
``daemon-at-exit-helper``, ``hang-at-exit-helper`` and ``helper-timeout`` are
generated as programs that include ``finirace_guard.h`` (built with ``-I`` its
directory) and must run clean, each run graded "yes" against the model, on every
installed 3.8-3.13, under the plain detector and under valgrind.

Plain: the free-running scenarios 20 times on each interpreter, the pipe-ordered
ones twice (their path is fixed, below).  Three of them leave a race
free-running (``seed-helper`` and ``daemon-at-exit-helper``: the worker's end of
its allow-threads section against main's ``Py_FinalizeEx``; ``helper-timeout``:
``quick``'s section against it), so each run samples an interleaving: one the
guard got wrong that one run in seven meets would pass 20 runs unseen with
probability 0.86**20 < 5%, per interpreter.  The other three order every step of
one thread against the other's by pipes (their guarded thread acts only once
main signalled that ``Py_FinalizeEx`` returned), so every run takes the same
path.

valgrind: a run costs about 2 s of CPU (CPython's start-up under memcheck
with ``PYTHONMALLOC=malloc``), so 20 runs of six scenarios on six interpreters
(720 runs: 24 minutes of CPU, 20 of wall time on two cores) do not fit the
suite.  The suite runs
each scenario on every interpreter, the three free-running ones
``VALGRIND_FREE_RUNS`` times (each run samples an interleaving, and they
guard the cases whose unguarded forms reach a use of freed memory in the model:
``seed`` and ``daemon-at-exit``, and ``seed``'s worker three times over in
``helper-timeout``; memcheck's eyes matter there) and the three pipe-ordered
ones once (their unguarded forms crash, abort or hang, which the plain detector
sees, and one run is every run).  ``FINIRACE_HELPER_VALGRIND_RUNS=20`` runs every scenario 20 times
instead; docs/fixing-extensions.md records that run.

The unguarded scenarios, in the same test run, still crash, abort or hang as
the catalog says: the suite's catalog sweep (tests/conftest.py) ran them on the
same interpreters with the same detector.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab.conftest import RELEASES

ROOT = Path(__file__).resolve().parents[2]
FREE_RUNNING = ["seed-helper", "daemon-at-exit-helper", "helper-timeout"]
PIPE_ORDERED = ["ensure-after-helper", "cxx-noexcept-helper", "hang-at-exit-helper"]
HELPER = FREE_RUNNING + PIPE_ORDERED
UNGUARDED = ["seed-ordered", "ensure-after", "cxx-noexcept", "hang-at-exit"]
VERSIONS = [(3, 8), (3, 9), (3, 10), (3, 11), (3, 12), (3, 13)]
PLAIN_RUNS = 20
VALGRIND_FREE_RUNS = 3
# the whole claim (20 runs of each under valgrind on every interpreter), run by hand: docs/fixing-extensions.md
VALGRIND_ALL_RUNS = int(os.environ.get("FINIRACE_HELPER_VALGRIND_RUNS", "0"))

pytestmark = pytest.mark.slow


def _pythons() -> list[str]:
    found = [str(RELEASES[v]) for v in VERSIONS if RELEASES[v].exists()]
    if not found:
        pytest.skip("no CPython 3.8-3.13 installed under /root/.pyenv/versions")
    return found


def _lab(scenarios: list[str], detector: str, repeat: int, timeout: float = 10,
         pythons: list[str] | None = None) -> list[dict]:
    argv = [sys.executable, "-m", "finirace", "lab", *scenarios, "--detector", detector, "--repeat", str(repeat),
            "--jobs", "2", "--timeout", str(timeout), "--no-store", "--json"]
    for p in pythons or _pythons():
        argv += ["--python", p]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    p = subprocess.run(argv, capture_output=True, text=True, timeout=1800, env=env)
    assert p.returncode in (0, 1), p.stderr[-2000:]
    return json.loads(p.stdout)["runs"]


def _summary(runs: list[dict]) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for r in runs:
        out.setdefault((r["scenario"], r["version"]), []).append(f"{r['outcome']['label']} [{r['match']}]")
    return out


def _assert_all_clean(plan: list[tuple[list[str], int]]) -> None:
    runs = [r for scenarios, repeat in plan for r in _lab(scenarios, "plain", repeat)]
    assert {r["scenario"] for r in runs} == {s for scenarios, _ in plan for s in scenarios}
    assert len(runs) == sum(len(s) * n for s, n in plan) * len(_pythons())
    bad = {k: v for k, v in _summary(runs).items() if any(not x.startswith("clean") or "[yes]" not in x for x in v)}
    assert not bad, bad
    # no thread of a helper scenario may be killed inside the runtime
    assert not [r for r in runs for t in r["outcome"]["threads"] if t["outcome"] == "exited"]


def test_helper_scenarios_run_clean_20_of_20():
    _assert_all_clean([(FREE_RUNNING, PLAIN_RUNS), (PIPE_ORDERED, 2)])


def test_the_unguarded_cases_still_fail_in_the_same_test_run(catalog_sweep):
    assert catalog_sweep.returncode in (0, 1), catalog_sweep.stderr[-2000:]
    releases = {Path(p).parents[1].name for p in _pythons()}  # /root/.pyenv/versions/3.8.18/bin/python3.8 -> 3.8.18
    runs = [r for r in catalog_sweep.data["runs"] if r["scenario"] in UNGUARDED and r["version"] in releases]
    assert {(r["scenario"], r["version"]) for r in runs} == {(s, v) for s in UNGUARDED for v in releases}
    for r in runs:
        kind, version = r["outcome"]["kind"], tuple(int(x) for x in r["version"].split(".")[:2])
        assert r["match"] == "yes", (r["scenario"], r["version"], r["outcome"]["label"], r["why"])
        if r["scenario"] == "ensure-after":
            assert kind == "crash"
        elif r["scenario"] == "cxx-noexcept":
            assert kind == ("abort" if version >= (3, 9) else "timeout")
        elif r["scenario"] == "hang-at-exit":
            assert kind == "timeout"
        else:  # seed-ordered: exited on 3.9-3.13, hung (main deadlocked in join) on 3.8
            assert r["outcome"]["label"] == ("clean, worker exited" if version >= (3, 9)
                                             else "timeout, main deadlocked, worker hung")


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_helper_scenarios_run_clean_under_valgrind():
    plan = ([(HELPER, VALGRIND_ALL_RUNS)] if VALGRIND_ALL_RUNS
            else [(FREE_RUNNING, VALGRIND_FREE_RUNS), (PIPE_ORDERED, 1)])
    runs = [r for scenarios, repeat in plan for r in _lab(scenarios, "valgrind", repeat, timeout=60)]
    assert len(runs) == sum(len(s) * n for s, n in plan) * len(_pythons())
    assert {(r["scenario"], r["version"]) for r in runs} == {
        (s, Path(p).parents[1].name) for s in HELPER for p in _pythons()}
    bad = {k: v for k, v in _summary(runs).items() if any(x != "clean [yes]" and not x.startswith("clean, daemon hung")
                                                           for x in v)}
    assert not bad, bad
    assert not [r for r in runs if r["outcome"]["memory_errors"]]
