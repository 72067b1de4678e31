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
