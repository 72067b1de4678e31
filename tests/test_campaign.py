"""Campaigns, lab and stress alike: open, resume the same plan only, record, read back what was left."""

from __future__ import annotations

import pytest

from finirace import campaign
from finirace.conformance import Prediction, grade
from finirace.errors import UsageError
from finirace.lab.interpreters import Interpreter
from finirace.lab.runner import LabRun
from finirace.lab.session import plan
from finirace.outcome import RunKind, RunOutcome
from finirace.scenario import catalog
from finirace.store import Store


@pytest.fixture
def jobs():
    scenarios = [catalog.resolve("seed-ordered"), catalog.resolve("ensure-after")]
    return plan(scenarios, [Interpreter("/p/python3.11"), Interpreter("/p/python3.8")], ["plain"], repeat=1)


def _record(index, job):
    run = LabRun(job.scenario.name, job.interpreter.path, "3.11.7", job.detector, RunOutcome(RunKind.CLEAN))
    return campaign.lab_record(index, grade(run, Prediction("exit", (RunOutcome(RunKind.CLEAN),))),
                               repetition=job.repetition, schedule=None)


def test_a_lab_campaign_resumes_with_exactly_the_missing_runs(tmp_path, jobs):
    with Store(tmp_path / "c.db") as store:
        first = campaign.open_lab(store, None, jobs, repeat=1, timeout=3.0, schedule=None)
        assert first.name.startswith("lab-") and not first.resumed and list(first.pending(len(jobs))) == [0, 1, 2, 3]
        kept = [_record(i, jobs[i]) for i in (0, 2)]
        assert [first.record_lab(r) for r in kept] == [True, True]
        assert first.record_lab(kept[0]) is False  # stored once
        again = campaign.open_lab(store, first.name, jobs, repeat=1, timeout=3.0, schedule=None)
        assert again.resumed and list(again.pending(len(jobs))) == [1, 3]
        assert again.earlier() == {0: kept[0], 2: kept[1]}
        timed = again.pending(None)  # bounded by time: on from the highest index stored
        assert [next(timed) for _ in range(3)] == [3, 4, 5]


def test_a_generated_name_never_takes_an_existing_one(tmp_path, monkeypatch):
    monkeypatch.setattr(campaign.time, "strftime", lambda fmt: fmt.replace("%Y%m%d-%H%M%S", "20260101-000000"))
    with Store(tmp_path / "c.db") as store:
        assert campaign.new_name(store, "stress") == "stress-20260101-000000"
        store.create_campaign("stress-20260101-000000", ("prog",), {}, 1)
        store.create_campaign("stress-20260101-000000-2", ("prog",), {}, 1)
        assert campaign.new_name(store, "stress") == "stress-20260101-000000-3"


def test_another_plan_or_another_kind_under_a_name_is_a_usage_error(tmp_path, jobs):
    with Store(tmp_path / "c.db") as store:
        campaign.open_lab(store, "sweep", jobs, repeat=1, timeout=3.0, schedule=None)
        with pytest.raises(UsageError, match="holds another sweep"):
            campaign.open_lab(store, "sweep", jobs[:2], repeat=1, timeout=3.0, schedule=None)
        with pytest.raises(UsageError, match="holds another sweep"):
            campaign.open_lab(store, "sweep", jobs, repeat=1, timeout=3.0, schedule="v1.ab")
        store.create_campaign("nightly", ("prog",), {}, 10)
        with pytest.raises(UsageError, match="'nightly' is a stress campaign, not a lab one"):
            campaign.open_lab(store, "nightly", jobs, repeat=1, timeout=3.0, schedule=None)
        with pytest.raises(UsageError, match="'sweep' is a lab campaign, not a stress one"):
            campaign.open_campaign(store, "sweep", campaign.STRESS, argv=("prog",), options={}, target_runs=1)
