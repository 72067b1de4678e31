from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from finirace.store import Store
from finirace.stress.runner import CampaignSettings, open_campaign, run_campaign

PY = sys.executable


def test_kill_9_mid_campaign_then_resume_counts_exactly(db, tmp_path):
    target = [PY, "-c", "import time; time.sleep(0.05)"]
    cmd = [sys.executable, "-m", "finirace", "stress", "--runs", "60", "-j", "2", "--campaign", "k", "--", *target]
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        recorded = 0
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if db.exists():
                with Store(db) as store:
                    c = store.campaign("k")
                    recorded = store.run_count(c.id) if c else 0
                if recorded >= 10:
                    break
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    with Store(db) as store:
        before = store.run_count(store.campaign("k").id)
    assert 10 <= before < 60
    resumed = subprocess.run([sys.executable, "-m", "finirace", "stress", "--campaign", "k"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{before} runs already recorded" in resumed.stderr
    with Store(db) as store:
        c = store.campaign("k")
        assert sorted(store.done_indices(c.id)) == list(range(60))
        assert store.run_count(c.id) == 60


def test_recording_a_run_twice_counts_it_once(db):
    from finirace.outcome import RunKind, RunOutcome
    from finirace.store import StressRunRecord

    with Store(db) as store:
        c = store.create_campaign("twice", ("x",), {}, 2)
        rec = StressRunRecord(index=0, seed=1, outcome=RunOutcome(RunKind.CRASH, signal="SIGSEGV"), duration=0.1,
                              signature="crash SIGSEGV | f")
        assert store.record_run(c.id, rec).count == 1
        assert store.record_run(c.id, rec) is None
        assert store.buckets(c.id)[0].count == 1 and store.run_count(c.id) == 1


def test_dask_local_cluster_feeds_the_same_store(exit_race, db):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Store(db) as store:
            settings = CampaignSettings(argv=tuple(exit_race), runs=30, timeout=30, seed=3, dask=cluster.scheduler_address)
            campaign, settings = open_campaign(store, "dask", settings)
            final = run_campaign(store, campaign, settings)
            runs = list(store.runs(campaign.id))
            buckets = store.buckets(campaign.id)
    assert final.done == 30 and sorted(r.index for r in runs) == list(range(30))
    assert len(buckets) <= 1 and sum(b.count for b in buckets) == sum(r.kind == "crash" for r in runs)


def test_two_finirace_processes_share_one_new_campaign(db, tmp_path):
    log = tmp_path / "ran.log"
    code = f"import os, time; open({str(log)!r}, 'a').write(os.environ['FINIRACE_SEED'] + '\\n'); time.sleep(0.05)"
    cmd = [sys.executable, "-m", "finirace", "stress", "--runs", "40", "-j", "2", "--seed", "1000",
           "--campaign", "shared", "--", PY, "-c", code]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
             for _ in range(2)]
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    seeds = log.read_text().split()
    assert sorted(map(int, seeds)) == list(range(1000, 1040))  # every index ran, and only once
    with Store(db) as store:
        c = store.campaign("shared")
        runs = list(store.runs(c.id))
        assert sorted(r.index for r in runs) == list(range(40)) and store.claimed(c.id) == 0
    assert len({r.worker for r in runs}) == 2  # both processes did part of the work
    assert any("shared: 40/40 runs" in err for _, err in outs)  # progress counts what is stored


def test_claims_of_dead_or_expired_owners_are_taken_back_live_ones_are_left(db):
    from finirace.claims import Owner

    dead = subprocess.run([PY, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with Store(db) as store:
        settings = CampaignSettings(argv=("true",), runs=8, jobs=2, seed=1)
        campaign, settings = open_campaign(store, "claims", settings)
        here = Owner.this_process().host
        assert store.claim(campaign, 3, Owner(here, int(dead.stdout)), lease=600)  # its process is gone
        assert store.claim(campaign, 5, Owner("elsewhere", 1), lease=-1)  # its lease ran out
        assert store.claim(campaign, 6, Owner("elsewhere", 2), lease=600)  # running on another machine
        final = run_campaign(store, campaign, settings)
        assert sorted(store.done_indices(campaign.id)) == [0, 1, 2, 3, 4, 5, 7]
        assert final.done == 7 and final.session == 7
        assert store.claimed(campaign.id) == 1  # the live claim stays; nothing of ours is left
        store.release_claims(campaign.id, Owner("elsewhere", 2))  # that machine died for good: a resume finishes
        final = run_campaign(store, campaign, settings)
        assert sorted(store.done_indices(campaign.id)) == list(range(8)) and final.session == 1
