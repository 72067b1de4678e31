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
    e["FINIRACE_DB"] = str(tmp_path_factory.mktemp("cli-lab-store") / "finirace.db")
    e["COLUMNS"] = "200"
    return e


def finirace(env, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "finirace", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def need(path):
    if not Path(path).exists():
        pytest.skip(f"{path} is not installed")


def test_whole_catalog_on_every_interpreter_with_two_workers(catalog_sweep):
    """The sweep (tests/conftest.py): the bundled catalog and one scenario of the lab's own, every interpreter found."""
    r, env = catalog_sweep, catalog_sweep.env
    assert r.returncode in (0, 1), r.stderr
    data = r.data
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
    # the sweep is in the store: the report rebuilt from it has the same rows and grades, mismatches first
    rep = finirace(env, "report", data["campaign"], "--json")
    assert rep.returncode == 0, rep.stderr
    stored = json.loads(rep.stdout)
    assert stored["kind"] == "lab" and stored["summary"] == data["summary"]
    assert [run["outcome"] for run in stored["runs"]] == [run["outcome"] for run in runs]
    ranks = [("no", "weak", "yes", "n/a", "skipped").index(row["match"]) for row in stored["summary"]]
    assert ranks == sorted(ranks)


PY38 = "/root/.pyenv/versions/3.8.18/bin/python3.8"


def _table(text):
    """The conformance table's rows as printed (rich draws rows between the heading rule and the bottom)."""
    lines = text.splitlines()
    start = next(n for n, ln in enumerate(lines) if ln.startswith("┡"))
    end = next(n for n, ln in enumerate(lines) if ln.startswith("└"))
    return lines[start + 1:end]


def _store(env):
    from finirace.store import Store

    return Store(env["FINIRACE_DB"])


def test_a_lab_run_is_in_the_store_and_report_reproduces_its_table(env, tmp_path):
    need(PY311)
    need(PY38)
    r = finirace(env, "lab", "seed-ordered", "ensure-after", "--python", PY311, "--python", PY38,
                 "--campaign", "two-by-two", "--html", str(tmp_path / "t.html"), "--junit", str(tmp_path / "l.xml"))
    assert r.returncode in (0, 1), r.stderr
    assert "as lab campaign two-by-two" in r.stdout and "finirace report two-by-two" in r.stdout
    with _store(env) as store:
        campaign = store.campaign("two-by-two")
        assert campaign.kind == "lab" and campaign.target_runs == 4
        records = store.lab_runs(campaign.id)
    assert [(x.scenario, x.version) for x in records] == [
        ("seed-ordered", "3.11.7"), ("seed-ordered", "3.8.18"), ("ensure-after", "3.11.7"), ("ensure-after", "3.8.18")]
    by = {(x.scenario, x.version): x for x in records}
    assert by[("seed-ordered", "3.8.18")].outcome.label == "timeout, main deadlocked, worker hung"
    assert by[("seed-ordered", "3.8.18")].outcome.thread("worker").last_step.text == "restore"
    assert by[("ensure-after", "3.11.7")].outcome.signal == "SIGSEGV"
    assert by[("seed-ordered", "3.11.7")].python == PY311 and by[("seed-ordered", "3.8.18")].python == PY38
    assert by[("seed-ordered", "3.11.7")].html == str(tmp_path / "t.html")
    assert all(x.html is None for x in records[1:])
    assert all(x.grade in ("yes", "weak", "no", "n/a") and x.predicted and x.variant for x in records)
    assert all(x.detector == "plain" and x.schedule is None for x in records)

    rep = finirace(env, "report", "two-by-two", "--junit", str(tmp_path / "r.xml"))
    assert rep.returncode == 0, rep.stderr
    assert "lab campaign two-by-two: 4/4 runs" in rep.stdout
    assert _table(rep.stdout) == _table(r.stdout) and len(_table(r.stdout)) == 4
    assert (tmp_path / "r.xml").read_text().count("<testcase") == 4
    import xml.etree.ElementTree as ET

    lab_cases = [(c.get("name"), c.find("failure") is not None) for c in ET.parse(tmp_path / "l.xml").getroot()]
    rep_cases = [(c.get("name"), c.find("failure") is not None) for c in ET.parse(tmp_path / "r.xml").getroot()]
    assert lab_cases == rep_cases

    listed = finirace(env, "runs")
    assert listed.returncode == 0, listed.stderr
    row = next(ln for ln in listed.stdout.splitlines() if "two-by-two" in ln)
    assert " lab " in row and "4/4" in row

    again = finirace(env, "lab", "seed-ordered", "ensure-after", "--python", PY311, "--python", PY38,
                     "--campaign", "two-by-two", "--json")
    assert again.returncode == r.returncode, again.stderr
    assert "4 of them from before" in again.stderr  # nothing left to run, nothing run twice
    with _store(env) as store:
        assert store.lab_runs(campaign.id) == records


def test_a_killed_catalog_sweep_keeps_every_finished_run(env, catalog_sweep):
    """kill -9 of `finirace lab --catalog --all` mid-sweep: every run stored before the kill stays, readable by report.

    Its programs come from the suite's catalog sweep's build cache (the same
    catalog on the same interpreters): what is killed is running and storing,
    not gcc; the store is this module's own.
    """
    import signal
    import time

    env = dict(env, FINIRACE_CACHE_DIR=catalog_sweep.env["FINIRACE_CACHE_DIR"])
    proc = subprocess.Popen([sys.executable, "-m", "finirace", "lab", "--catalog", "--all", "--jobs", "2",
                             "--timeout", "3", "--campaign", "killed", "--detector", "plain"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    seen = 0
    deadline = time.monotonic() + 300
    try:
        while seen < 12 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            with _store(env) as store:
                c = store.campaign("killed")
                seen = len(store.done_lab_indices(c.id)) if c else 0
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and seen >= 12
    with _store(env) as store:
        c = store.campaign("killed")
        kept = store.lab_runs(c.id)
    assert seen <= len(kept) < c.target_runs  # killed mid-sweep, nothing that was stored is lost
    assert all(x.outcome.kind.value and x.grade in ("yes", "weak", "no", "n/a", "skipped") for x in kept)
    rep = finirace(env, "report", "killed", "--json")
    assert rep.returncode == 0, rep.stderr
    assert [run["outcome"]["label"] for run in json.loads(rep.stdout)["runs"]] == [x.outcome.label for x in kept]
    assert sum(row["runs"] for row in json.loads(rep.stdout)["summary"]) == len(kept)


def test_a_resumed_sweep_runs_only_what_is_missing(env):
    """A 4-run sweep killed after its first stored run; the same command again makes the other 3, and only them."""
    import signal
    import time

    need(PY311)
    need(PY38)
    args = ["lab", "seed-ordered", "ensure-after", "--python", PY311, "--python", PY38, "--jobs", "1",
            "--timeout", "3", "--campaign", "resumed"]
    proc = subprocess.Popen([sys.executable, "-m", "finirace", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    first = []
    try:
        while not first and proc.poll() is None:
            time.sleep(0.02)
            with _store(env) as store:
                c = store.campaign("resumed")
                first = store.lab_runs(c.id) if c else []
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.fail(f"the sweep ended before it could be killed: {proc.returncode}")
    r = finirace(env, *args, "--json")
    assert r.returncode in (0, 1), r.stderr
    assert f"{len(first)} of them from before" in r.stderr
    with _store(env) as store:
        after = store.lab_runs(store.campaign("resumed").id)
    assert [x.index for x in after] == [0, 1, 2, 3]
    assert after[:len(first)] == first  # the runs from before the kill, untouched
    assert len(json.loads(r.stdout)["runs"]) == 4


def test_no_store_keeps_nothing_and_names_are_checked(env, tmp_path):
    need(PY311)
    db = tmp_path / "own.db"
    r = finirace(env, "lab", "ensure-after", "--python", PY311, "--no-store", "--json")
    assert r.returncode in (0, 1), r.stderr
    assert "campaign" not in json.loads(r.stdout) and "stored" not in r.stderr
    bad = finirace(env, "lab", "ensure-after", "--python", PY311, "--no-store", "--campaign", "x")
    assert bad.returncode == 2 and "--no-store" in bad.stderr
    from finirace.store import Store

    with Store(db) as store:
        store.create_campaign("nightly", ("prog",), {}, 10)
    clash = finirace(env, "lab", "ensure-after", "--python", PY311, "--db", str(db), "--campaign", "nightly")
    assert clash.returncode == 2 and "is a stress campaign" in clash.stderr and "Traceback" not in clash.stderr
    other = finirace(env, "lab", "ensure-after", "--python", PY311, "--db", str(db), "--campaign", "mine")
    assert other.returncode in (0, 1), other.stderr
    differs = finirace(env, "lab", "seed-ordered", "--python", PY311, "--db", str(db), "--campaign", "mine")
    assert differs.returncode == 2 and "holds another sweep" in differs.stderr
    with Store(db) as store:
        assert len(store.lab_runs(store.campaign("mine").id)) == 1


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
    assert "stored 1 run as lab campaign " in r.stdout


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
    # each installed version maps to the era whose source it is (catalog.md, "Corrections")
    eras = {"3.6.15": "legacy36", "3.8.18": "legacy", "3.10.13": "exit", "3.11.7": "exit311", "3.12.1": "exit312",
            "3.13.0": "exit313"}
    for version, era in eras.items():
        if version in by_version:
            assert by_version[version]["era"] == era, (version, by_version[version])
    table = finirace(env, "pythons")
    assert table.returncode == 0 and "3.13.0" in table.stdout and "embeds" in table.stdout


def test_a_model_counterexample_becomes_a_deterministic_reproducer(env):
    """`finirace check` finds a schedule; `lab --schedule` orders the real program the same way."""
    need(PY311)
    from finirace.explore import check
    from finirace.scenario.format import load

    path = SCENARIOS / "free-wake.toml"
    verdict = check(load(path), "exit311")  # PY311's era
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
    # the worker is killed only when it comes to take_gil while main is inside finalize: pipes
    # cannot stop main there, gdb can (lab/exact.py), so the run is exact and graded yes or no
    r = finirace(env, "lab", str(path), "--python", PY311, "--schedule", by_label["clean, worker exited"], "--json")
    assert r.returncode == 0, r.stderr
    assert "approximated" not in r.stderr
    runs = json.loads(r.stdout)["runs"]
    assert runs and all(run["predicted"] == ["clean, worker exited"] for run in runs)
    assert all(run["note"].startswith("exact") and run["match"] == "yes" for run in runs), runs
    assert json.loads(r.stdout)["summary"][0]["order"] == "exact"


def test_a_schedule_that_does_not_fit_is_one_line(env):
    need(PY311)
    r = finirace(env, "lab", str(SCENARIOS / "free-wake.toml"), "--python", PY311, "--schedule", "v1.zz")
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_cell_where_the_model_predicts_a_memory_error_runs_under_valgrind(env):
    """No weak cells: without --detector, a memory error the model predicts is looked for by memcheck."""
    need(PY311)
    r = finirace(env, "lab", "clear-after", "--python", PY311, "--json", "--no-store")
    assert r.returncode == 0, r.stderr
    assert "go under valgrind" in r.stderr
    (run,) = json.loads(r.stdout)["runs"]
    assert run["detector"] == "valgrind" and run["match"] == "yes", run
    assert run["outcome"]["kind"] == "memory-error"
    # asked for by name, plain stays plain (and weak: it cannot see the error)
    r = finirace(env, "lab", "clear-after", "--python", PY311, "--json", "--no-store", "--detector", "plain")
    (run,) = json.loads(r.stdout)["runs"]
    assert run["detector"] == "plain" and run["match"] == "weak"
