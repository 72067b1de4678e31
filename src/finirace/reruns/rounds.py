"""A round: N reruns of one test, each stored as a stress run of one campaign.

The round's campaign (``pytest:<node id>@<id>``, new each round so an
earlier round's runs are never counted again) holds every rerun like any
``finirace stress`` run, so ``finirace report`` shows it too.  What a round
tells the session is one of:

* ``crash``: some reruns crashed, aborted or hung at exit (the finalization
  bugs finirace is for);
* ``flaky``: some reruns failed the ordinary way (exit 1 or 2) and some passed;
* ``order-dependent``: every rerun failed the ordinary way, though the test
  passed in the session: it fails alone, so it depends on what ran before it;
* ``no-test``: some rerun ran no test (see :mod:`finirace.reruns.target`);
* ``clean``: every rerun ran the test and exited 0.

A round can be several at once (a crash in one rerun, a failure in another):
each is reported.

A round's reruns run side by side (``jobs`` at once, ``--finirace-jobs``):
while one waits (its test's sleeps and I/O) another runs, and the time of a
round is closer to that of its longest rerun than to the sum.  Reruns of one test
beside each other can meet over what the test holds for the whole user or
machine (a fixed port, a file outside its tmp_path, the per-user inotify
instance limit), and fail where a rerun alone passes.  Such a failure is not
the test's: a rerun that failed the ordinary way or ran no test while others
ran is run again alone, with the same seed (the same perturbation), after the
pool has ended, and that run is the one stored and judged, so FLAKY,
ORDER-DEPENDENT and NO TEST say what one rerun after another would say.  A
crash, abort, memory error or hang at exit is kept as found: a sibling
cannot make an interpreter crash in its own finalization, and a race found
once may not come again.
"""

from __future__ import annotations

import concurrent.futures as cf
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Callable

from finirace.outcome import RunKind
from finirace.records import StressRunRecord
from finirace.reruns.target import NO_TEST, RerunTarget
from finirace.store import Store
from finirace.stress.execute import RunSpec
from finirace.stress.perturb import Perturbation
from finirace.stress.runner import CampaignSettings, open_campaign, repro_command

AT_EXIT = (RunKind.CRASH, RunKind.ABORT, RunKind.MEMORY_ERROR, RunKind.TIMEOUT)
Launcher = Callable[[RunSpec], StressRunRecord]


def round_seed(session_seed: int, nodeid: str) -> int:
    """The first run seed of a test's round: the session's seed moved by the test's name.

    Stable whatever else the session selects, so ``--finirace-seed S``
    replays each test's perturbations, and two tests never share them.
    """
    return session_seed + (zlib.crc32(nodeid.encode()) << 16)


@dataclass(frozen=True)
class Round:
    """The reruns of one test: every record, and each failing signature's reproduction command."""

    target: RerunTarget
    runs: int
    campaign: str
    records: tuple[StressRunRecord, ...]
    repros: dict[str, str] = field(default_factory=dict)  # signature -> reproduction command

    def _of(self, wanted: Callable[[StressRunRecord], bool]) -> tuple[StressRunRecord, ...]:
        return tuple(r for r in self.records if wanted(r))

    @property
    def at_exit(self) -> tuple[StressRunRecord, ...]:
        return self._of(lambda r: r.outcome.kind in AT_EXIT)

    @property
    def no_test(self) -> tuple[StressRunRecord, ...]:
        return self._of(lambda r: r.outcome.kind is RunKind.FAILED and r.outcome.reason.startswith(NO_TEST))

    @property
    def failed(self) -> tuple[StressRunRecord, ...]:
        """Reruns that ran the test and failed the ordinary way."""
        return self._of(lambda r: r.outcome.kind is RunKind.FAILED and not r.outcome.reason.startswith(NO_TEST))

    @property
    def failure_kind(self) -> str:
        """``flaky`` or ``order-dependent`` (only meaningful when some rerun failed)."""
        return "order-dependent" if len(self.failed) == len(self.records) else "flaky"

    @property
    def clean(self) -> bool:
        return not (self.at_exit or self.failed or self.no_test)

    def buckets(self, records: tuple[StressRunRecord, ...]) -> list[tuple[str, int, str]]:
        """(signature, count, reproduction command) of these records, most frequent first."""
        counts: dict[str, int] = {}
        for r in records:
            counts[r.signature] = counts.get(r.signature, 0) + 1
        return [(s, n, self.repros.get(s, "")) for s, n in sorted(counts.items(), key=lambda kv: -kv[1])]


def run_round(store: Store, target: RerunTarget, runs: int, seed: int, timeout: float, launch: Launcher,
              perturbation: Perturbation | None = None,
              on_run: Callable[[int, StressRunRecord], None] | None = None, jobs: int = 1,
              prepare: Callable[[RunSpec], None] | None = None) -> Round:
    """Rerun ``target`` ``runs`` times through ``launch``, ``jobs`` at once, storing each run the moment it ends.

    ``launch`` runs in a pool's threads when ``jobs`` > 1; the store and
    ``on_run`` are only touched here, in the caller's thread, and ``on_run``
    is called in run order (a rerun that ends before an earlier one waits
    for it to be shown), so progress reads the same whatever the order of ends.
    ``prepare`` is called here first, with the first run's spec (the launcher
    starts what must outlive the pool's threads).  A rerun that failed the
    ordinary way (or ran no test) beside others is run again alone, with the
    same seed, once the others have ended, and only that run is stored.
    """
    argv = target.argv()
    settings = CampaignSettings(argv=argv, runs=runs, timeout=timeout, seed=seed, cwd=target.rootdir,
                                perturbation=perturbation or Perturbation(), jobs=max(1, jobs))
    name = f"pytest:{target.nodeid}@{uuid.uuid4().hex[:8]}"
    campaign, settings = open_campaign(store, name, settings)
    specs = [RunSpec(argv=argv, index=i, seed=seed + i, timeout=timeout, perturbation=settings.perturbation,
                     cwd=target.rootdir) for i in range(runs)]
    ended: dict[int, StressRunRecord] = {}
    repros: dict[str, str] = {}
    shown = 0  # runs passed to on_run: 0 .. shown - 1

    def store_run(record: StressRunRecord) -> None:
        nonlocal shown
        repro = repro_command(campaign, record.seed) if record.signature else ""
        store.record_run(campaign.id, record, repro)
        if record.signature:
            repros.setdefault(record.signature, repro)
        ended[record.index] = record
        while shown in ended:
            if on_run is not None:
                on_run(shown, ended[shown])
            shown += 1

    if prepare is not None and specs:
        prepare(specs[0])
    if jobs <= 1 or runs <= 1:
        for spec in specs:
            store_run(launch(spec))
    else:
        pool = cf.ThreadPoolExecutor(max_workers=min(jobs, runs), thread_name_prefix="finirace-rerun")
        futures = [pool.submit(launch, spec) for spec in specs]
        alone: list[RunSpec] = []
        try:
            for future in cf.as_completed(futures):
                record = future.result()
                if record.outcome.kind is RunKind.FAILED:  # maybe a sibling's doing: judged alone, below
                    alone.append(specs[record.index])
                else:
                    store_run(record)
        finally:  # interrupted: no rerun not yet started starts; those running end within their time limit
            pool.shutdown(wait=True, cancel_futures=True)
        for spec in sorted(alone, key=lambda s: s.index):
            store_run(launch(spec))
    return Round(target, runs, name, tuple(ended[i] for i in sorted(ended)), repros)
