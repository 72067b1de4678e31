"""The result store: campaigns, runs and crash buckets in one SQLite file.

Why SQLite in WAL mode: every run is committed on its own the moment it ends,
so a ``kill -9`` of finirace loses only the runs that were still going; readers
(``finirace runs`` in another terminal) never block the writer.

Exactness of resume rests on one invariant: a campaign's runs are numbered
``0 .. N-1`` and ``(campaign, index)`` is unique.  A run's row and its
bucket's counters are written in the same transaction, and the counters only
move when the row was really inserted, so a run recorded twice (a retried Dask
task, a resumed campaign) counts once.  Resuming runs exactly the indices
that have no row.

Several processes may share one campaign: a run index is claimed in the
store before it runs and the claim is dropped when the run is stored
(:mod:`finirace.claims`); Dask workers send their results back to the process
that claimed them, which writes the store.

``finirace lab`` stores into the same file under the same rules: a campaign
of kind ``lab`` per invocation, one ``lab_runs`` row per run, committed the
moment the run is graded, ``(campaign, index)`` unique, so a killed sweep
keeps every run it finished and resumes with the missing indices.  A lab row
holds the whole :class:`~finirace.outcome.RunOutcome` (and the predicted
ones) as JSON that :func:`~finirace.outcome.outcome_from_dict` turns back into the same value,
so a report rebuilt from the store is the table the sweep printed.

A stress row holds its whole outcome the same way (the ``outcome`` column);
rows written before that column existed read back from their flat columns
(kind, signal, reason, exit code).  The records themselves, one form for both
kinds, are :mod:`finirace.records`; opening and resuming a campaign is
:mod:`finirace.campaign`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from finirace.claims import CLAIMS_SCHEMA, Claims
from finirace.outcome import RunKind, RunOutcome, outcome_from_dict, outcome_to_dict
from finirace.records import LabRunRecord, RunRecord, StressRunRecord

DB_ENV = "FINIRACE_DB"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    argv TEXT NOT NULL,            -- JSON list
    options TEXT NOT NULL,         -- JSON object: perturbation, detector, timeout, seed
    target_runs INTEGER,           -- NULL for a time-bounded campaign
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS buckets (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    signature TEXT NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    first_run INTEGER NOT NULL,
    last_run INTEGER NOT NULL,
    repro TEXT NOT NULL DEFAULT '',
    native_backtrace TEXT NOT NULL DEFAULT '',
    UNIQUE (campaign_id, signature)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    idx INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    kind TEXT NOT NULL,
    signal TEXT,
    reason TEXT NOT NULL DEFAULT '',
    exit_code INTEGER,
    duration REAL NOT NULL,
    signature TEXT NOT NULL DEFAULT '',
    bucket_id INTEGER REFERENCES buckets(id),
    stdout_tail TEXT NOT NULL DEFAULT '',
    stderr_tail TEXT NOT NULL DEFAULT '',
    python_tracebacks TEXT NOT NULL DEFAULT '',
    native_backtrace TEXT NOT NULL DEFAULT '',
    memory_errors TEXT NOT NULL DEFAULT '',
    leftovers INTEGER NOT NULL DEFAULT 0,
    worker TEXT NOT NULL DEFAULT '',
    finished REAL NOT NULL,
    outcome TEXT,                  -- JSON: the whole RunOutcome (NULL in rows written before it was kept)
    perturbation TEXT NOT NULL DEFAULT '',  -- what the run got, level first: "python, cpu 1, 2 hogs"
    UNIQUE (campaign_id, idx)
);
CREATE INDEX IF NOT EXISTS runs_by_bucket ON runs(bucket_id);
CREATE TABLE IF NOT EXISTS lab_runs (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    idx INTEGER NOT NULL,          -- the job's place in the sweep's plan
    scenario TEXT NOT NULL,
    scenario_path TEXT,
    python TEXT NOT NULL,          -- the interpreter's path
    version TEXT NOT NULL,         -- its label: "3.11.7", "3.11.2-debug"
    detector TEXT NOT NULL,
    repetition INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL,         -- JSON: the whole RunOutcome (outcome_to_dict)
    label TEXT NOT NULL,           -- outcome.label, for queries
    variant TEXT,                  -- the model era it was graded against
    predicted TEXT NOT NULL,       -- JSON list of the predicted RunOutcomes
    predicted_labels TEXT NOT NULL,  -- JSON list of their labels, for queries
    predicted_note TEXT NOT NULL DEFAULT '',
    grade TEXT NOT NULL,           -- yes, weak (shown "weak (UB)"), no, error, n/a, skipped
    why TEXT NOT NULL DEFAULT '',
    skipped INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT '',
    schedule TEXT,                 -- the `finirace check` schedule token it replays
    html TEXT,                     -- the HTML timeline written of it
    duration REAL NOT NULL,
    stdout_tail TEXT NOT NULL DEFAULT '',
    stderr_tail TEXT NOT NULL DEFAULT '',
    backtraces TEXT NOT NULL DEFAULT '',
    finished REAL NOT NULL,
    UNIQUE (campaign_id, idx)
);
"""
STRESS, LAB = "stress", "lab"  # campaign kinds


def default_path() -> Path:
    """``$FINIRACE_DB``, else ``finirace.db`` in the per-user data directory."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("finirace", appauthor=False)) / "finirace.db"


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    argv: tuple[str, ...]
    options: Mapping[str, Any]
    target_runs: int | None
    created: float
    kind: str = STRESS  # STRESS or LAB: which table holds its runs


@dataclass(frozen=True)
class Bucket:
    id: int
    signature: str
    kind: RunKind
    count: int
    first_run: int
    last_run: int
    repro: str
    native_backtrace: str
    repro_check: str = ""  # how often its reproduction command reproduced it when checked; '' = not checked


@dataclass(frozen=True)
class CampaignSummary:
    campaign: Campaign
    runs: int
    failures: int
    buckets: int
    last_finished: float | None


class Store(Claims):
    """A connection to the store; one per process (SQLite connections are not shared).

    Its claim methods (``claim``, ``claim_next``, ``stale_claims``,
    ``release_claims``, ``claimed``) are :mod:`finirace.claims`'.
    """

    def _table(self, campaign: Campaign) -> str:
        """The table holding ``campaign``'s runs."""
        return "lab_runs" if campaign.kind == LAB else "runs"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        if path is None and not os.environ.get(DB_ENV):
            # only the per-user default is ours to make; a path the user gave with a
            # missing directory is a typo, and sqlite fails on it ("unable to open")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a killed process
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA + CLAIMS_SCHEMA)
        # stores made before lab campaigns have no ``kind``: every campaign there is a stress one
        self._add_column("campaigns", "kind", f"TEXT NOT NULL DEFAULT '{STRESS}'")
        # stores made before stress runs kept their whole outcome: those rows read from their flat columns
        self._add_column("runs", "outcome", "TEXT")
        # stores made before reproduction commands were checked: their buckets say "not checked"
        self._add_column("buckets", "repro_check", "TEXT NOT NULL DEFAULT ''")
        # stores made before runs kept their perturbation (level, contention): those rows have ''
        self._add_column("runs", "perturbation", "TEXT NOT NULL DEFAULT ''")

    def _add_column(self, table: str, column: str, decl: str) -> None:
        """Bring a store written by an earlier finirace up to this schema (no-op when it is)."""
        columns = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
        if column in columns:
            return
        try:
            self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        except sqlite3.OperationalError as exc:  # another process added it first
            if "duplicate column" not in str(exc):
                raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # campaigns

    def campaign(self, name: str) -> Campaign | None:
        row = self._db.execute(
            "SELECT id, name, argv, options, target_runs, created, kind FROM campaigns WHERE name = ?", (name,)
        ).fetchone()
        return _campaign(row) if row else None

    def create_campaign(
        self, name: str, argv: tuple[str, ...] | list[str], options: Mapping[str, Any], target_runs: int | None,
        kind: str = STRESS,
    ) -> Campaign:
        now = time.time()
        cur = self._db.execute(
            "INSERT INTO campaigns (name, argv, options, target_runs, created, kind) VALUES (?, ?, ?, ?, ?, ?)",
            (name, json.dumps(list(argv)), json.dumps(dict(options), sort_keys=True), target_runs, now, kind),
        )
        return Campaign(int(cur.lastrowid or 0), name, tuple(argv), dict(options), target_runs, now, kind)

    def set_target_runs(self, campaign_id: int, target_runs: int | None) -> None:
        self._db.execute("UPDATE campaigns SET target_runs = ? WHERE id = ?", (target_runs, campaign_id))

    def campaigns(self) -> list[CampaignSummary]:
        rows = self._db.execute(
            """SELECT c.id, c.name, c.argv, c.options, c.target_runs, c.created, c.kind,
                      (SELECT COUNT(*) FROM runs r WHERE r.campaign_id = c.id),
                      (SELECT COUNT(*) FROM runs r WHERE r.campaign_id = c.id AND r.bucket_id IS NOT NULL),
                      (SELECT COUNT(*) FROM buckets b WHERE b.campaign_id = c.id),
                      (SELECT MAX(finished) FROM runs r WHERE r.campaign_id = c.id),
                      (SELECT COUNT(*) FROM lab_runs l WHERE l.campaign_id = c.id),
                      (SELECT COUNT(*) FROM lab_runs l WHERE l.campaign_id = c.id AND l.grade IN ('no', 'error')),
                      (SELECT MAX(finished) FROM lab_runs l WHERE l.campaign_id = c.id)
               FROM campaigns c ORDER BY c.created"""
        ).fetchall()
        out = []
        for r in rows:
            if r[6] == LAB:  # runs are lab runs; a failure: the model does not predict it, or it did not build
                out.append(CampaignSummary(_campaign(r[:7]), r[11], r[12], 0, r[13]))
            else:
                out.append(CampaignSummary(_campaign(r[:7]), r[7], r[8], r[9], r[10]))
        return out

    # runs

    def done_indices(self, campaign_id: int) -> set[int]:
        return {r[0] for r in self._db.execute("SELECT idx FROM runs WHERE campaign_id = ?", (campaign_id,))}

    def run_count(self, campaign_id: int) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM runs WHERE campaign_id = ?", (campaign_id,)).fetchone()[0])

    def record_run(self, campaign_id: int, run: StressRunRecord, repro: str = "") -> Bucket | None:
        """Store one finished run (and count it in its bucket) in one transaction.

        Returns the run's bucket (None for a clean run, or a run already stored,
        which is then left as it was).
        """
        db = self._db
        o = run.outcome
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute(
                """INSERT OR IGNORE INTO runs (campaign_id, idx, seed, kind, signal, reason, exit_code, duration,
                       signature, stdout_tail, stderr_tail, python_tracebacks, native_backtrace, memory_errors,
                       leftovers, worker, finished, outcome, perturbation)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    campaign_id, run.index, run.seed, run.kind.value, o.signal, o.reason, o.exit_code, run.duration,
                    run.signature, run.stdout_tail, run.stderr_tail, run.python_tracebacks, run.native_backtrace,
                    run.memory_error_text, run.leftovers, run.worker, run.finished, json.dumps(outcome_to_dict(o)),
                    run.perturbation,
                ),
            )
            db.execute("DELETE FROM claims WHERE campaign_id = ? AND idx = ?", (campaign_id, run.index))
            if cur.rowcount != 1 or not run.signature:
                db.execute("COMMIT")
                return None
            run_id = cur.lastrowid
            db.execute(
                """INSERT INTO buckets (campaign_id, signature, kind, count, first_run, last_run, repro, native_backtrace)
                   VALUES (?, ?, ?, 1, ?, ?, ?, ?)
                   ON CONFLICT (campaign_id, signature) DO UPDATE SET
                       count = count + 1,
                       first_run = MIN(first_run, excluded.first_run),
                       last_run = MAX(last_run, excluded.last_run),
                       native_backtrace = CASE WHEN native_backtrace = '' THEN excluded.native_backtrace
                                               ELSE native_backtrace END""",
                (campaign_id, run.signature, run.kind.value, run.index, run.index, repro, run.native_backtrace),
            )
            row = db.execute(
                "SELECT id, signature, kind, count, first_run, last_run, repro, native_backtrace, repro_check FROM buckets"
                " WHERE campaign_id = ? AND signature = ?",
                (campaign_id, run.signature),
            ).fetchone()
            db.execute("UPDATE runs SET bucket_id = ? WHERE id = ?", (row[0], run_id))
            db.execute("COMMIT")
            return _bucket(row)
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def set_repro_check(self, bucket_id: int, text: str) -> None:
        """What checking the bucket's reproduction command found (``reproduced 6/20 …``)."""
        self._db.execute("UPDATE buckets SET repro_check = ? WHERE id = ?", (text, bucket_id))

    def set_bucket_backtrace(self, bucket_id: int, text: str) -> None:
        self._db.execute("UPDATE buckets SET native_backtrace = ? WHERE id = ?", (text, bucket_id))

    def buckets(self, campaign_id: int) -> list[Bucket]:
        rows = self._db.execute(
            "SELECT id, signature, kind, count, first_run, last_run, repro, native_backtrace, repro_check FROM buckets"
            " WHERE campaign_id = ? ORDER BY count DESC, first_run",
            (campaign_id,),
        ).fetchall()
        return [_bucket(r) for r in rows]

    def runs(self, campaign_id: int, bucket_id: int | None = None) -> Iterator[StressRunRecord]:
        sql = (
            "SELECT idx, seed, kind, duration, signal, reason, exit_code, signature, stdout_tail, stderr_tail,"
            " python_tracebacks, native_backtrace, memory_errors, leftovers, worker, finished, outcome, perturbation"
            " FROM runs"
            " WHERE campaign_id = ?"
        )
        args: tuple[Any, ...] = (campaign_id,)
        if bucket_id is not None:
            sql += " AND bucket_id = ?"
            args += (bucket_id,)
        for r in self._db.execute(sql + " ORDER BY idx", args):
            if r[16] is not None:
                outcome = outcome_from_dict(json.loads(r[16]))
            else:  # written before the whole outcome was kept
                outcome = RunOutcome(RunKind(r[2]), signal=r[4], reason=r[5], exit_code=r[6])
            yield StressRunRecord(
                index=r[0], seed=r[1], outcome=outcome, duration=r[3], signature=r[7], stdout_tail=r[8],
                stderr_tail=r[9], python_tracebacks=r[10], native_backtrace=r[11], memory_error_text=r[12],
                leftovers=r[13], worker=r[14], finished=r[15], perturbation=r[17],
            )

    def perturbation_counts(self, campaign_id: int) -> list[tuple[str, int, int]]:
        """``(perturbation text, runs, failed runs)`` for each perturbation the campaign's runs got."""
        return [(r[0], int(r[1]), int(r[2])) for r in self._db.execute(
            "SELECT perturbation, COUNT(*), SUM(bucket_id IS NOT NULL) FROM runs WHERE campaign_id = ?"
            " GROUP BY perturbation", (campaign_id,))]

    def bucket_perturbations(self, campaign_id: int) -> dict[int, list[tuple[str, int]]]:
        """For each bucket, ``(perturbation text, runs)`` of the runs that fell in it."""
        out: dict[int, list[tuple[str, int]]] = {}
        for bucket_id, text, n in self._db.execute(
                "SELECT bucket_id, perturbation, COUNT(*) FROM runs WHERE campaign_id = ? AND bucket_id IS NOT NULL"
                " GROUP BY bucket_id, perturbation", (campaign_id,)):
            out.setdefault(int(bucket_id), []).append((text, int(n)))
        return out

    def kind_counts(self, campaign_id: int) -> dict[str, int]:
        return dict(
            self._db.execute("SELECT kind, COUNT(*) FROM runs WHERE campaign_id = ? GROUP BY kind", (campaign_id,))
        )


    # lab runs

    def record_lab_run(self, campaign_id: int, run: LabRunRecord) -> bool:
        """Store one graded lab run, committed at once; False when that index was already stored (left as it was)."""
        with self._transaction():
            self._db.execute("DELETE FROM claims WHERE campaign_id = ? AND idx = ?", (campaign_id, run.index))
            return self._insert_lab_run(campaign_id, run)

    def _insert_lab_run(self, campaign_id: int, run: LabRunRecord) -> bool:
        cur = self._db.execute(
            """INSERT OR IGNORE INTO lab_runs (campaign_id, idx, scenario, scenario_path, python, version, detector,
                   repetition, outcome, label, variant, predicted, predicted_labels, predicted_note, grade, why,
                   skipped, note, schedule, html, duration, stdout_tail, stderr_tail, backtraces, finished)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                campaign_id, run.index, run.scenario, run.scenario_path, run.python, run.version, run.detector,
                run.repetition, json.dumps(outcome_to_dict(run.outcome)), run.outcome.label, run.variant,
                json.dumps([outcome_to_dict(p) for p in run.predicted]), json.dumps([p.label for p in run.predicted]),
                run.predicted_note, run.grade, run.why, int(run.skipped), run.note, run.schedule, run.html,
                run.duration, run.stdout_tail, run.stderr_tail, run.backtraces, run.finished,
            ),
        )
        return cur.rowcount == 1

    def set_lab_run_html(self, campaign_id: int, index: int, path: str) -> None:
        """The timeline is drawn after the sweep, when the run's row is already stored."""
        self._db.execute("UPDATE lab_runs SET html = ? WHERE campaign_id = ? AND idx = ?", (path, campaign_id, index))

    def done_lab_indices(self, campaign_id: int) -> set[int]:
        return {r[0] for r in self._db.execute("SELECT idx FROM lab_runs WHERE campaign_id = ?", (campaign_id,))}

    def lab_runs(self, campaign_id: int) -> list[LabRunRecord]:
        rows = self._db.execute(
            """SELECT idx, scenario, python, version, detector, outcome, predicted, grade, repetition,
                      scenario_path, variant, predicted_note, why, skipped, note, schedule, html, duration,
                      stdout_tail, stderr_tail, backtraces, finished
               FROM lab_runs WHERE campaign_id = ? ORDER BY idx""",
            (campaign_id,),
        ).fetchall()
        return [
            LabRunRecord(
                index=r[0], scenario=r[1], python=r[2], version=r[3], detector=r[4],
                outcome=outcome_from_dict(json.loads(r[5])),
                predicted=tuple(outcome_from_dict(p) for p in json.loads(r[6])), grade=r[7], repetition=r[8],
                scenario_path=r[9], variant=r[10], predicted_note=r[11], why=r[12], skipped=bool(r[13]), note=r[14],
                schedule=r[15], html=r[16], duration=r[17], stdout_tail=r[18], stderr_tail=r[19], backtraces=r[20],
                finished=r[21],
            )
            for r in rows
        ]

    # either kind: what a campaign's runs are, wherever its kind keeps them (recording is
    # record_run or record_lab_run: a stress run also counts in its bucket)

    def done(self, campaign: Campaign) -> set[int]:
        """The indices ``campaign`` holds a run for: a resume runs every other one."""
        return self.done_lab_indices(campaign.id) if campaign.kind == LAB else self.done_indices(campaign.id)

    def records(self, campaign: Campaign) -> list[RunRecord]:
        """Every run ``campaign`` holds, in index order, as it was stored."""
        return list(self.lab_runs(campaign.id) if campaign.kind == LAB else self.runs(campaign.id))


def _bucket(row: tuple[Any, ...]) -> Bucket:
    return Bucket(row[0], row[1], RunKind(row[2]), *row[3:])


def _campaign(row: tuple[Any, ...]) -> Campaign:
    kind = row[6] if len(row) > 6 and row[6] else STRESS
    return Campaign(int(row[0]), row[1], tuple(json.loads(row[2])), json.loads(row[3]), row[4], float(row[5]), kind)
