"""The real daemon-at-exit crash of CPython 3.10.13, under the default perturbation.

CATALOG.md: daemon threads looping in GIL-releasing C calls while the main
thread exits segfault in take_gil after finalization freed the interpreter,
about 3 times in 1000 plain runs.  With the default perturbation (a GIL-holding
hold at exit and the shim's exit window) it must show within a bounded number
of runs, and every crash of it must land in one bucket however the crashing
thread got into take_gil (zlib, hashlib, bz2, the eval loop).
"""

from __future__ import annotations

import os

import pytest

from finirace.store import Store
from finirace.stress.examples import DAEMON_AT_EXIT
from finirace.stress.perturb import Perturbation
from finirace.stress.runner import CampaignSettings, open_campaign, run_campaign

PY310 = "/root/.pyenv/versions/3.10.13/bin/python3.10"

TARGET = DAEMON_AT_EXIT

pytestmark = pytest.mark.skipif(not os.path.exists(PY310), reason="needs the installed CPython 3.10.13")


def _campaign(db, tmp_path, name, perturbation, runs):
    script = tmp_path / "daemons.py"
    script.write_text(TARGET)
    with Store(db) as store:
        settings = CampaignSettings(argv=(PY310, str(script)), runs=runs, jobs=2, timeout=30, seed=11,
                                    perturbation=perturbation)
        campaign, settings = open_campaign(store, name, settings)
        final = run_campaign(store, campaign, settings)
        return final, store.buckets(campaign.id), store.kind_counts(campaign.id)


def test_default_perturbation_catches_the_310_take_gil_crash_in_one_bucket(db, tmp_path):
    final, buckets, kinds = _campaign(db, tmp_path, "daemons", Perturbation(), runs=60)
    assert final.done == 60
    assert kinds.get("crash", 0) >= 1, kinds  # plain runs: about 0.2 expected crashes in 60
    assert len(buckets) == 1, [b.signature for b in buckets]
    (bucket,) = buckets
    frames = bucket.signature.split(" | ")
    assert frames[0] == "crash SIGSEGV" and "take_gil" in frames, bucket.signature
    assert bucket.count == kinds["crash"] == final.failures


def test_without_the_exit_window_the_threads_are_not_held(db, tmp_path):
    # the same campaign with the window off: it still runs to the end, every run
    # recorded, and whatever crashes there are are the same bug
    final, buckets, kinds = _campaign(db, tmp_path, "daemons-nowin", Perturbation(exit_window_ms=0), runs=20)
    assert final.done == 20 and sum(kinds.values()) == 20
    assert all("take_gil" in b.signature for b in buckets), [b.signature for b in buckets]
