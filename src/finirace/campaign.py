"""A campaign: numbered runs of one plan, each stored the moment it ends.

Lab sweeps and stress campaigns have one shape: **open** (create the campaign,
or find it to resume: same kind, same plan, or a usage error that says why),
**pending** (the indices ``0 .. N-1`` without a stored run: exactly what a
resume makes), **record** (each run committed on its own as it ends, a run
stored twice counted once) and **read back** (:meth:`Store.records`, the
records as written: :mod:`finirace.records`).  What differs per kind is what a
plan is (scenarios × interpreters × detectors × repeat for the lab; a command,
its options and a run count for stress) and which table holds the runs.

Why the pending indices come from one place (:meth:`OpenCampaign.pending`):
sharing one campaign between processes (or Dask workers) needs an index to be
*claimed* before it runs, so that none runs twice; that method claims each
index in the store as it hands it out (:meth:`Store.claim`), and storing the
run drops the claim, so the lab and stress share campaigns without knowing it.

The lab's part lives here rather than in the lab package or the command: the
lab runs programs and knows no store, the store knows no lab, and grading is
conformance's; this module sits above the three, as conformance sits above lab
and model.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from finirace.errors import UsageError
from finirace.records import BACKTRACE_TAIL, LabRunRecord, RunRecord
from finirace.claims import Owner
from finirace.store import LAB, STRESS, Campaign, Store

if TYPE_CHECKING:
    from finirace.conformance import Comparison
    from finirace.lab.session import Job

DEFAULT_LEASE = 3600.0  # seconds a claim stands when its process cannot be checked (another host)

__all__ = ["LAB", "STRESS", "OpenCampaign", "lab_plan", "lab_record", "new_name", "open_campaign", "open_lab"]


class OpenCampaign:
    """A campaign opened to run: its stored row, and whether it was there before (a resume)."""

    def __init__(self, store: Store, campaign: Campaign, resumed: bool) -> None:
        self.store, self.campaign, self.resumed = store, campaign, resumed

    @property
    def name(self) -> str:
        return self.campaign.name

    def pending(self, total: int | None, lease: float = DEFAULT_LEASE) -> Iterator[int]:
        """The indices this process is to make, in order, each claimed in the store as it is handed out.

        Below ``total``: those with no stored run and no live claim of another
        process, then those whose claim went stale meanwhile (its process died,
        or its lease ran out).  With no ``total`` (a campaign bounded by time,
        not by runs) the indices go on after every stored and claimed one, for
        as long as the caller asks; a gap a dead process left there stays a gap.
        Claims this process left from an earlier pass are given back first.
        ``lease`` must outlast one run: a claim older than that is taken back.
        """
        owner = Owner.this_process()
        self.store.release_claims(self.campaign.id, owner)
        if total is None:
            while True:
                yield self.store.claim_next(self.campaign, owner, lease)
        for i in range(total):
            if self.store.claim(self.campaign, i, owner, lease):
                yield i
        while True:  # indices another process held when we passed them, and left behind since
            stale = [i for i in self.store.stale_claims(self.campaign.id, owner) if i < total]
            taken = [i for i in stale if self.store.claim(self.campaign, i, owner, lease)]
            if not taken:
                return
            yield from taken

    def release(self) -> None:
        """Give back the indices this process claimed and did not store (the session ends)."""
        self.store.release_claims(self.campaign.id, Owner.this_process())

    def earlier(self) -> dict[int, RunRecord]:
        """The runs stored before this invocation, by index (nothing for a new campaign)."""
        return {r.index: r for r in self.store.records(self.campaign)} if self.resumed else {}

    def record_lab(self, run: LabRunRecord) -> bool:
        """Store one graded lab run, committed at once; a store that fails is one line, earlier runs kept."""
        try:
            return self.store.record_lab_run(self.campaign.id, run)
        except sqlite3.Error as exc:  # a full disk, a store deleted under us
            raise UsageError(f"cannot store run {run.index} in {self.store.path}: {exc}") from None


def new_name(store: Store, prefix: str) -> str:
    """``PREFIX-YYYYmmdd-HHMMSS``, with ``-2``, ``-3``… when that name is taken."""
    base = time.strftime(f"{prefix}-%Y%m%d-%H%M%S")
    name, n = base, 1
    while store.campaign(name) is not None:
        n += 1
        name = f"{base}-{n}"
    return name


def open_campaign(store: Store, name: str, kind: str, *, argv: Sequence[str], options: Mapping[str, Any],
                  target_runs: int | None, fits: Callable[[Campaign], str | None] | None = None) -> OpenCampaign:
    """Create campaign ``name`` of ``kind``, or open it to resume.

    An existing campaign of another kind, or one ``fits`` finds wrong (it
    returns why), is a usage error: its runs are never mixed with another plan's.
    """
    existing = store.campaign(name)
    if existing is None:
        try:
            return OpenCampaign(store, store.create_campaign(name, argv, options, target_runs, kind=kind), False)
        except sqlite3.IntegrityError:  # another process created it a moment ago: share it
            existing = store.campaign(name)
            if existing is None:
                raise
    if existing.kind != kind:
        raise UsageError(f"campaign {name!r} is a {existing.kind} campaign, not a {kind} one; pick another name")
    problem = fits(existing) if fits is not None else None
    if problem:
        raise UsageError(problem)
    return OpenCampaign(store, existing, True)


# the lab's campaigns


def lab_plan(jobs: Sequence[Job]) -> list[str]:
    """What a resume must find unchanged: every job's scenario, interpreter, detector and repetition."""
    return [f"{j.scenario.name}|{j.interpreter.path}|{j.detector}|{j.repetition}" for j in jobs]


def open_lab(store: Store, name: str | None, jobs: Sequence[Job], *, repeat: int, timeout: float,
             schedule: str | None) -> OpenCampaign:
    """The lab campaign of a sweep: new (named, or ``lab-DATE-TIME``), or the same plan resumed."""
    plan = lab_plan(jobs)
    options = {"scenarios": list(dict.fromkeys(j.scenario.name for j in jobs)),
               "pythons": list(dict.fromkeys(j.interpreter.path for j in jobs)),
               "detectors": list(dict.fromkeys(j.detector for j in jobs)), "repeat": repeat,
               "timeout": timeout, "schedule": schedule, "plan": plan}

    def fits(existing: Campaign) -> str | None:
        if existing.options.get("plan") != plan or existing.options.get("schedule") != schedule:
            return (f"lab campaign {existing.name!r} holds another sweep (scenarios, interpreters, detectors or "
                    "repeat differ); pick a new name to run this one")
        return None

    return open_campaign(store, name if name is not None else new_name(store, "lab"), LAB,
                         argv=["lab", *options["scenarios"]], options=options, target_runs=len(jobs), fits=fits)


def lab_record(index: int, graded: Comparison, *, repetition: int = 0, scenario_path: str | None = None,
               schedule: str | None = None) -> LabRunRecord:
    """A graded lab run as a campaign keeps it: the run, its place in the plan, the model's word."""
    r, p = graded.run, graded.predicted
    return LabRunRecord(
        index=index, outcome=r.outcome, duration=r.duration, stdout_tail=r.stdout, stderr_tail=r.stderr,
        scenario=r.scenario, python=r.python, version=r.version, detector=r.detector,
        predicted=tuple(p.outcomes), grade=graded.match, repetition=repetition,
        scenario_path=scenario_path, variant=p.variant, predicted_note=p.note, why=graded.why,
        skipped=r.skipped, note=r.note, schedule=schedule, backtraces=r.backtraces[-BACKTRACE_TAIL:],
    )
