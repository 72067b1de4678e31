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
"""

from __future__ import annotations

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
              on_run: Callable[[int, StressRunRecord], None] | None = None) -> Round:
    """Rerun ``target`` ``runs`` times through ``launch``, storing each run the moment it ends."""
    argv = target.argv()
    settings = CampaignSettings(argv=argv, runs=runs, timeout=timeout, seed=seed, cwd=target.rootdir,
                                perturbation=perturbation or Perturbation(), jobs=1)
    name = f"pytest:{target.nodeid}@{uuid.uuid4().hex[:8]}"
    campaign, settings = open_campaign(store, name, settings)
    records: list[StressRunRecord] = []
    repros: dict[str, str] = {}
    for i in range(runs):
        spec = RunSpec(argv=argv, index=i, seed=seed + i, timeout=timeout, perturbation=settings.perturbation,
                       cwd=target.rootdir)
        record = launch(spec)
        repro = repro_command(campaign, record.seed) if record.signature else ""
        store.record_run(campaign.id, record, repro)
        if record.signature:
            repros.setdefault(record.signature, repro)
        records.append(record)
        if on_run is not None:
            on_run(i, record)
    return Round(target, runs, name, tuple(records), repros)
