"""``lab --counterexamples``: the counterexamples that switch threads inside a call, run exactly and graded."""

from __future__ import annotations

from pathlib import Path

import pytest

from finirace import conformance, exactsweep
from finirace.lab import interpreters, session
from finirace.scenario import catalog

PY310 = Path("/root/.pyenv/versions/3.10.13/bin/python3.10")
PY37 = Path("/root/.pyenv/versions/3.7.16/bin/python3.7")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_CACHE_DIR", str(tmp_path / "cache"))


def test_every_counterexample_of_seed_and_wait_during_fini_is_exact_and_fits_the_model():
    if not (PY310.exists() and PY37.exists()):
        pytest.skip("needs the pyenv 3.10.13 and 3.7.16")
    interps = [interpreters.probe(PY310), interpreters.probe(PY37)]
    scenarios = [catalog.resolve("seed"), catalog.resolve("wait-during-fini")]
    todo = exactsweep.plan(scenarios, interps, None)
    names = sorted(todo.scenarios)
    # the exit era's use-after-free and its "worker exited" ending, the legacy era's hang
    assert "seed@v1.a4b10a8b" in names and "seed@v1.a4b7a7ba" in names
    assert all(todo.exact_plans[(j.scenario.name, j.interpreter.path)] is not None for j in todo.jobs)
    runs = session.execute(todo.jobs, workers=2, timeout=10, orderings=todo.orderings,
                           exact_plans=todo.exact_plans)
    graded = [conformance.grade(r, todo.predictions[r.scenario]) for r in runs]
    assert [(g.run.scenario, g.run.version, g.run.note.split(":")[0], g.match) for g in graded] == [
        (g.run.scenario, g.run.version, "exact", conformance.YES) for g in graded]
    memory = [g for g in graded if g.predicted.outcomes[0].kind.value == "memory-error"]
    assert memory and all(g.run.detector == "pymalloc-debug" for g in memory)


def test_the_guard_helpers_and_the_exit_guards_counterexamples_are_exact_and_fit_the_model():
    # their places are in the program's own code (finirace_guard.h, lab/exit_guard.c: lines/program.toml)
    if not PY310.exists():
        pytest.skip("needs the pyenv 3.10.13")
    interps = [interpreters.probe(PY310)]
    scenarios = [catalog.resolve("daemon-at-exit-helper"), catalog.resolve("daemon-at-exit-parked")]
    todo = exactsweep.plan(scenarios, interps, None)
    labels = {label for plan in todo.exact_plans.values() for label in plan.labels}
    assert {"finirace_enter_.gate", "bring_to_safe_point"} <= labels
    runs = session.execute(todo.jobs, workers=2, timeout=10, orderings=todo.orderings,
                           exact_plans=todo.exact_plans)
    graded = [conformance.grade(r, todo.predictions[r.scenario]) for r in runs]
    assert [(g.run.scenario, g.run.note.split(":")[0], g.match) for g in graded] == [
        (g.run.scenario, "exact", conformance.YES) for g in graded]
