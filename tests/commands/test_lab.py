"""``finirace lab`` and ``finirace pythons`` as a user runs them: real processes, real interpreters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parent.parent / "lab" / "scenarios"
PY311 = "/root/.pyenv/versions/3.11.7/bin/python3.11"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = dict(os.environ)
    e["FINIRACE_CACHE_DIR"] = str(tmp_path_factory.mktemp("cli-lab-cache"))
    e["COLUMNS"] = "200"
    return e


def finirace(env, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "finirace", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def need(path):
    if not Path(path).exists():
        pytest.skip(f"{path} is not installed")


def test_whole_catalog_on_every_interpreter_with_two_workers(env):
    """The sweep: the bundled catalog and one scenario of the lab's own, every interpreter found, plain detector."""
    r = finirace(env, "lab", "--catalog", str(SCENARIOS / "seed-hang.toml"), "--all", "--jobs", "2",
                 "--timeout", "3", "--json")
    assert r.returncode in (0, 1), r.stderr
    data = json.loads(r.stdout)
    runs = data["runs"]
    versions = {run["version"] for run in runs}
    for v in ("3.6.15", "3.7.16", "3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0"):
        if Path(f"/root/.pyenv/versions/{v}").exists():
            assert v in versions
    by = {(run["scenario"], run["version"]): run for run in runs}
    assert by[("ensure-after", "3.11.7")]["outcome"]["signal"] == "SIGSEGV"
    assert by[("seed-hang", "3.8.18")]["outcome"]["label"] == "clean, worker hung"
    assert by[("seed-hang", "3.12.1")]["outcome"]["label"] == "clean, worker exited"
    assert by[("seed-ordered", "3.7.16")]["outcome"]["label"] == "timeout, main deadlocked, worker hung"
    assert by[("seed-ordered", "3.13.0")]["outcome"]["label"] == "clean, worker exited"
    assert by[("cxx-noexcept", "3.10.13")]["outcome"]["reason"] == "terminate called without an active exception"
    scenarios = {run["scenario"] for run in runs}
    from finirace.scenario import catalog

    assert {s.name for s in catalog.load_bundled()} <= scenarios
    for run in runs:
        assert {"scenario", "python", "version", "detector", "outcome", "predicted", "match"} <= set(run)
        assert {"label", "signal", "threads", "memory_errors"} <= set(run["outcome"])
        for t in run["outcome"]["threads"]:
            assert {"name", "outcome", "last_marker"} <= set(t)
    # mismatches are findings: the exit status says so
    assert (r.returncode == 1) == any(run["match"] == "no" for run in runs)


def test_table_with_repeat_says_how_often_it_reproduced(env):
    need(PY311)
    r = finirace(env, "lab", str(SCENARIOS / "ensure-after.toml"), "--python", PY311, "--repeat", "3")
    assert r.returncode in (0, 1), r.stderr
    head = r.stdout.splitlines()
    assert any("scenario" in ln and "predicted" in ln and "match" in ln for ln in head)
    assert "crash (SIGSEGV) (3/3)" in r.stdout and "lab-ensure-after" in r.stdout
    assert "reproduced 3/3 times" in r.stdout


def test_emit_c_writes_a_program_that_builds_by_hand(env, tmp_path):
    need(PY311)
    out = tmp_path / "seed.c"
    r = finirace(env, "lab", str(SCENARIOS / "seed-hang.toml"), "--emit-c", str(out))
    assert r.returncode == 0, r.stderr
    src = out.read_text()
    assert "/* worker[4] restore, line" in src
    flags = subprocess.run(["/root/.pyenv/versions/3.11.7/bin/python3.11-config", "--cflags", "--ldflags", "--embed"],
                           capture_output=True, text=True).stdout.split()
    b = subprocess.run(["gcc", "-o", str(tmp_path / "seed"), str(out), *flags, "-lpthread",
                        "-Wl,-rpath,/root/.pyenv/versions/3.11.7/lib"], capture_output=True, text=True)
    assert b.returncode == 0, b.stderr
    run = subprocess.run([str(tmp_path / "seed")], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr  # the worker is killed by pthread_exit; main exits cleanly


def test_html_timeline_is_written(env, tmp_path):
    need(PY311)
    page = tmp_path / "run.html"
    r = finirace(env, "lab", str(SCENARIOS / "seed-hang.toml"), "--python", PY311, "--html", str(page))
    assert r.returncode in (0, 1), r.stderr
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "never returned (exited)" in text


@pytest.mark.parametrize("args,words", [
    (["lab", "seed", "--python", "/no/such/python"], "--python /no/such/python: no such interpreter"),
    (["lab", "no-such-scenario"], "no such scenario file"),
    (["lab"], "name a scenario"),
    (["lab", "seed", "--detector", "bogus"], "invalid choice"),
    (["lab", "seed", "--repeat", "0"], "must be at least 1"),
])
def test_bad_input_is_one_line_and_exit_2(env, args, words):
    r = finirace(env, *args)
    assert r.returncode == 2
    assert words in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2 and "Traceback" not in r.stderr


def test_a_scenario_file_error_is_one_line(env, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[threads]\nmain = ["init", "restroe"]\n')
    r = finirace(env, "lab", str(bad))
    assert r.returncode == 2 and "did you mean 'restore'" in r.stderr and "Traceback" not in r.stderr


def test_pythons_lists_every_interpreter_with_reasons(env):
    r = finirace(env, "pythons", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["pythons"]
    by_version = {row["version"]: row for row in rows}
    if Path("/root/.pyenv/versions/2.7.18").exists():
        assert by_version["2.7.18"]["embeds"] is False and "not supported" in by_version["2.7.18"]["reason"]
    assert by_version["3.11.7"]["embeds"] is True
    table = finirace(env, "pythons")
    assert table.returncode == 0 and "3.13.0" in table.stdout and "embeds" in table.stdout


def test_a_model_counterexample_becomes_a_deterministic_reproducer(env):
    """`finirace check` finds a schedule; `lab --schedule` orders the real program the same way."""
    need(PY311)
    model = pytest.importorskip("finirace.model")
    if not hasattr(model, "build_system"):
        pytest.skip("the model does not export build_system yet")
    from finirace.explore import check
    from finirace.scenario.format import load

    path = SCENARIOS / "free-wake.toml"
    verdict = check(load(path), "exit")
    by_label = {o.label: cx.schedule for o, cx in zip(verdict.outcomes, verdict.counterexamples)}
    assert "crash" in by_label and "clean, worker exited" in by_label, by_label
    # the crash needs no thread inside another's call: its projection is exact, 5 out of 5
    r = finirace(env, "lab", str(path), "--python", PY311, "--schedule", by_label["crash"], "--repeat", "5", "--json")
    assert r.returncode == 0, r.stderr
    assert "approximated" not in r.stderr
    runs = json.loads(r.stdout)["runs"]
    assert {run["outcome"]["label"] for run in runs} == {"crash"}
    assert all(run["outcome"]["signal"] == "SIGSEGV" and run["match"] == "yes" for run in runs)
    assert all(run["predicted"] == ["crash"] for run in runs)
    # the worker is killed only when it is inside take_gil as finalization starts: a C program
    # cannot stop it inside that call, so the schedule is approximated, said so, and still graded
    r = finirace(env, "lab", str(path), "--python", PY311, "--schedule", by_label["clean, worker exited"], "--json")
    assert r.returncode in (0, 1), r.stderr
    assert "approximated" in r.stderr and "finalize" in r.stderr
    runs = json.loads(r.stdout)["runs"]
    assert runs and all(run["predicted"] == ["clean, worker exited"] for run in runs)


def test_a_schedule_that_does_not_fit_is_one_line(env):
    need(PY311)
    model = pytest.importorskip("finirace.model")
    if not hasattr(model, "build_system"):
        pytest.skip("the model does not export build_system yet")
    r = finirace(env, "lab", str(SCENARIOS / "free-wake.toml"), "--python", PY311, "--schedule", "v1.zz")
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
