from __future__ import annotations

import json
import os
import sys

import pytest

from finirace.cli import main
from finirace.store import Store
from finirace.stress.perturb import Perturbation
from finirace.stress.runner import CampaignSettings, open_campaign, run_campaign

PY = sys.executable


def test_intermittent_exit_crash_is_caught_in_one_bucket(exit_race, db):
    with Store(db) as store:
        settings = CampaignSettings(argv=tuple(exit_race), runs=40, jobs=2, timeout=30, seed=7)
        campaign, settings = open_campaign(store, "race", settings)
        final = run_campaign(store, campaign, settings)
        assert final.done == 40
        buckets = store.buckets(campaign.id)
        kinds = store.kind_counts(campaign.id)
    assert 0 < final.failures < 40, kinds  # intermittent: some runs crash, not all
    assert len(buckets) == 1, [b.signature for b in buckets]
    (bucket,) = buckets
    assert bucket.count == final.failures == kinds["crash"]
    assert bucket.signature.startswith("crash SIGSEGV | touch_freed_tstate | watch_finalization")
    assert "--seed" in bucket.repro and exit_race[1] in bucket.repro


def test_hostile_targets_each_end_clearly(db, tmp_path):
    flood = [PY, "-c", "import sys\nfor _ in range(64): sys.stdout.buffer.write(b'x' * (1 << 24))"]
    cases = {
        "segv": ([PY, "-c", "import ctypes; ctypes.string_at(0)"], "crash SIGSEGV"),
        "abort": ([PY, "-c", "import os; os.abort()"], "abort SIGABRT"),
        "hang": ([PY, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"], "timeout"),
        "flood": (flood, None),
        "bytes": ([PY, "-c", "import sys; sys.stderr.buffer.write(b'\\xff\\xfe'); sys.exit(0)"], None),
    }
    with Store(db) as store:
        for name, (argv, expected) in cases.items():
            campaign, settings = open_campaign(
                # 1 GB through the pipe takes a few seconds on a loaded machine: only the hang needs a short limit
                store, name, CampaignSettings(argv=tuple(argv), runs=2, jobs=2, timeout=3 if name == "hang" else 60, seed=1)
            )
            run_campaign(store, campaign, settings)
            buckets = store.buckets(campaign.id)
            runs = list(store.runs(campaign.id))
            assert len(runs) == 2
            if expected is None:
                assert buckets == [] and all(r.kind == "clean" for r in runs)
            else:
                assert [b.signature.split(" | ")[0] for b in buckets] == [expected] and buckets[0].count == 2
            if name == "hang":
                assert "Thread 1" in runs[0].native_backtrace  # gdb attached before the kill
            if name == "bytes":
                assert "\ufffd" in runs[0].stderr_tail


def test_double_forked_child_is_counted_and_killed(db):
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(600)\n    os._exit(0)\n"
    with Store(db) as store:
        campaign, settings = open_campaign(store, "fork", CampaignSettings(argv=(PY, "-c", code), runs=2, jobs=2, seed=1))
        run_campaign(store, campaign, settings)
        assert [r.leftovers for r in store.runs(campaign.id)] == [1, 1]


@pytest.mark.parametrize(
    "argv,words",
    [
        (["stress", "--runs", "0", "--", "true"], "--runs: must be at least 1"),
        (["stress", "-j", "-1", "--", "true"], "-j/--jobs: must be at least 1"),
        (["stress", "--runs", "3"], "nothing to run"),
        (["stress", "--runs", "3", "--"], "nothing to run"),
        (["stress", "--", "/no/such/prog"], "command not found: /no/such/prog"),
        (["stress", "--runs", "2", "--time", "5", "--", "true"], "not both"),
        (["report", "nope"], "no campaign named 'nope'"),
        (["stress", "--cwd", "/no/such/dir", "--", "true"], "--cwd /no/such/dir: no such directory"),
        (["stress", "--env", "=x", "--", "true"], "--env =x: not NAME=VALUE"),
        (["stress", "--env", "FINIRACE_SURELY_UNSET", "--", "true"], "not set here"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(argv, words, db, capsys):
    with pytest.raises(SystemExit) if "must be" in words else _nothing():
        code = main(argv)
        assert code == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_file_without_run_bit_is_a_usage_error(tmp_path, db, capsys):
    script = tmp_path / "prog.sh"
    script.write_text("#!/bin/sh\n")
    assert main(["stress", "--", str(script)]) == 2
    assert "not executable" in capsys.readouterr().err


def test_cli_stress_runs_and_report_json_and_junit(db, tmp_path, capsys):
    code = "import os, sys; os.abort() if os.environ['FINIRACE_SEED'].endswith(('0', '5')) else sys.exit(0)"
    rc = main(["stress", "--runs", "10", "--seed", "100", "-j", "2", "--campaign", "c1", "--", PY, "-c", code])
    assert rc == 1
    capsys.readouterr()
    assert main(["report", "c1", "--json", "--junit", str(tmp_path / "j.xml")]) == 1  # a failure bucket, as stress
    data = json.loads(capsys.readouterr().out)
    assert data["runs"] == 10 and data["kinds"] == {"abort": 2, "clean": 8}
    (bucket,) = data["buckets"]
    assert bucket["count"] == 2 and {bucket["first_run"], bucket["last_run"]} == {0, 5}
    assert "--seed 100 " in bucket["repro"] or "--seed 105 " in bucket["repro"]
    xml = (tmp_path / "j.xml").read_text()
    assert 'failures="1"' in xml and "abort SIGABRT" in xml
    assert main(["runs"]) == 0
    assert "c1" in capsys.readouterr().out


def test_perturbation_reaches_the_target(db):
    code = "import sys, os; print(sys.getswitchinterval(), os.environ['FINIRACE_SEED'])"
    with Store(db) as store:
        campaign, settings = open_campaign(store, "p", CampaignSettings(argv=(PY, "-c", code), runs=1, jobs=1, seed=42,
                                                                        perturbation=Perturbation("python")))
        run_campaign(store, campaign, settings)
        (run,) = store.runs(campaign.id)
        assert run.stdout_tail.split() == ["1e-06", "42"] and run.perturbation.startswith("python")
        campaign, settings = open_campaign(
            store, "q", CampaignSettings(argv=(PY, "-c", code), runs=1, jobs=1, seed=1, perturbation=Perturbation("none"))
        )
        run_campaign(store, campaign, settings)
        (run,) = store.runs(campaign.id)
        assert run.stdout_tail.split() == ["0.005", "1"]


def test_stress_will_not_resume_a_lab_campaign(db, capsys):
    with Store(db) as store:
        store.create_campaign("sweep", ("lab",), {}, 4, kind="lab")
    assert main(["stress", "--campaign", "sweep"]) == 2
    err = capsys.readouterr().err
    assert "is a lab campaign" in err and len(err.strip().splitlines()) == 1


def test_a_target_that_cannot_start_or_fails_is_failed_not_clean(db, tmp_path, capsys):
    # a script that is not there: python exits 2 every time, which tested nothing
    assert main(["stress", "--runs", "3", "-j", "2", "--campaign", "gone", "--", PY, str(tmp_path / "nope.py")]) == 1
    out = capsys.readouterr().out
    assert "3 runs (failed 3)" in out and "tested nothing" in out
    assert main(["report", "gone", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    (bucket,) = data["buckets"]
    assert bucket["kind"] == "failed" and bucket["count"] == 3
    assert bucket["signature"].startswith("failed exit status 2 | ") and "can't open file" in bucket["signature"]
    # an ordinary failure in some runs only: its own bucket beside the clean runs, and no "tested nothing"
    code = "import os, sys; sys.exit('boom at 0x7f12 after 12ms') if os.environ['FINIRACE_SEED'].endswith('1') else None"
    assert main(["stress", "--runs", "4", "--seed", "10", "-j", "2", "--campaign", "some", "--", PY, "-c", code]) == 1
    assert "tested nothing" not in capsys.readouterr().out
    main(["report", "some", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["kinds"] == {"clean": 3, "failed": 1}
    assert [b["signature"] for b in data["buckets"]] == ["failed exit status 1 | boom at 0x? after Nms"]


def test_reproduction_command_works_pasted_in_another_shell_from_another_directory(db, tmp_path, monkeypatch, capsys):
    import os
    import subprocess

    here, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    (here / "prog.py").write_text("import os\nif os.environ.get('NEEDED') == 'yes' and os.path.exists('marker'):\n"
                                  "    os.abort()\n")
    (here / "marker").write_text("")  # read relative to the working directory
    monkeypatch.chdir(here)
    assert main(["stress", "--runs", "2", "-j", "2", "--campaign", "r", "--env", "NEEDED=yes", "--",
                 "python3", "prog.py"]) == 1
    capsys.readouterr()
    main(["report", "r", "--json"])
    (bucket,) = json.loads(capsys.readouterr().out)["buckets"]
    repro = bucket["repro"]
    assert str(here / "prog.py") in repro and f"--cwd {here}" in repro and "--env NEEDED=yes" in repro
    src = os.path.dirname(os.path.dirname(os.path.abspath(__import__("finirace").__file__)))
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "PYTHONPATH": src,
           "FINIRACE_DB": str(tmp_path / "other.db")}  # a fresh shell: none of the campaign's variables
    pasted = subprocess.run(["bash", "-c", repro], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert pasted.returncode == 1, pasted.stderr
    with Store(tmp_path / "other.db") as store:
        (summary,) = store.campaigns()
        assert store.kind_counts(summary.campaign.id) == {"abort": 20}


def test_a_mixed_campaign_draws_levels_and_contention_per_run_and_records_them(db, capsys):
    # each run says what it got: its switch interval (perturbed or not) and the CPUs it may run on
    code = "import os, sys; print(sys.getswitchinterval(), os.environ.get('MALLOC_PERTURB_', '-'), sorted(os.sched_getaffinity(0)))"
    with Store(db) as store:
        campaign, settings = open_campaign(store, "mix", CampaignSettings(argv=(PY, "-c", code), runs=16, jobs=2, seed=3))
        run_campaign(store, campaign, settings)
        runs = list(store.runs(campaign.id))
    levels = {r.perturbation.split(",")[0] for r in runs}
    assert {"none", "python"} <= levels <= {"none", "python", "all"}, levels
    allowed = sorted(os.sched_getaffinity(0))
    for r in runs:
        interval, poison, cpus = r.stdout_tail.split(" ", 2)
        assert (interval == "0.005") == r.perturbation.startswith("none"), (r.perturbation, interval)
        assert (poison == "-") == r.perturbation.startswith("none"), (r.perturbation, poison)  # freed memory filled
        if "cpu " in r.perturbation:  # pinned by the shim before any thread existed
            assert cpus.strip() == f"[{r.perturbation.split('cpu ')[1].split(',')[0]}]", (r.perturbation, cpus)
        else:
            assert cpus.strip() == str(allowed), (r.perturbation, cpus)
    if len(allowed) > 1:
        assert any("cpu " in r.perturbation for r in runs)  # most perturbed runs are pinned
    # the report gives the failure rate per level, and a bucket's reproduction fixes its run's level
    code = "import os, sys; sys.exit(3) if int(os.environ['FINIRACE_SEED']) % 3 == 0 else None"
    assert main(["stress", "--runs", "12", "--seed", "30", "-j", "2", "--campaign", "mixr", "--", PY, "-c", code]) == 1
    out = capsys.readouterr().out
    assert "failed by perturbation: " in out and "by perturbation: " in out
    main(["report", "mixr", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert sum(v["runs"] for v in data["levels"].values()) == 12 and sum(v["failed"] for v in data["levels"].values()) == 4
    (bucket,) = data["buckets"]
    assert "--perturb mix" not in bucket["repro"] and sum(bucket["levels"].values()) == 4


def test_report_says_whether_and_how_often_a_reproduction_command_reproduced_its_bucket(db, capsys):
    code = "import os; os.abort() if int(os.environ['FINIRACE_SEED']) % 2 == 0 else None"
    assert main(["stress", "--runs", "4", "--seed", "40", "-j", "2", "--perturb", "none", "--campaign", "rc", "--",
                 PY, "-c", code]) == 1
    out = capsys.readouterr().out
    assert "not checked: `finirace report rc --check-repro` runs it" in out
    assert main(["report", "rc", "--check-repro", "4"]) == 1
    captured = capsys.readouterr()
    assert "reproduced 2/4 when checked" in captured.out and "the others: clean 2" in captured.out
    assert "checking: abort SIGABRT" in captured.err
    main(["report", "rc", "--json"])
    (bucket,) = json.loads(capsys.readouterr().out)["buckets"]
    assert bucket["repro_check"].startswith("reproduced 2/4 when checked ") and "(campaign rc-check" in bucket["repro_check"]
