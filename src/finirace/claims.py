"""Claims: a run index taken by a live process before it runs, so several processes share one campaign.

A ``claims`` row (campaign, index, owner ``HOST:PID``, lease) is written in
one ``BEGIN IMMEDIATE`` transaction that first checks for a stored run and for
a live claim of another process, and is deleted in the transaction that
stores the run.  A claim stands while its lease runs and, on this host, while
its process lives: a claim of a process that died, or whose lease ran out, is
taken back by the next process that looks.  The store's class takes these
methods from :class:`Claims`; :meth:`finirace.campaign.OpenCampaign.pending`
hands out claimed indices.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from finirace.store import Campaign

CLAIMS_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    idx INTEGER NOT NULL,          -- a run index taken by a process and not stored yet
    owner TEXT NOT NULL,           -- "HOST:PID" of the process running it
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    expires REAL NOT NULL,         -- the lease: after this, anyone may take it back
    PRIMARY KEY (campaign_id, idx)
);
"""


@dataclass(frozen=True)
class Owner:
    """A process that claims runs: ``HOST:PID``."""

    host: str
    pid: int

    @property
    def name(self) -> str:
        return f"{self.host}:{self.pid}"

    @classmethod
    def this_process(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid())


def _alive(host: str, pid: int, expires: float) -> bool:
    """Whether a claim still stands: its lease runs, and on this host its process lives."""
    if expires < time.time():
        return False
    if host != socket.gethostname():
        return True  # another machine: only the lease tells
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True




class Claims:
    """The claim methods of :class:`finirace.store.Store` (it provides ``_db`` and ``_table``)."""

    _db: sqlite3.Connection

    def _table(self, campaign: Campaign) -> str:  # pragma: no cover - the store's
        raise NotImplementedError


    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _stored(self, campaign: Campaign, idx: int) -> bool:
        return self._db.execute(f"SELECT 1 FROM {self._table(campaign)} WHERE campaign_id = ? AND idx = ?",
                                (campaign.id, idx)).fetchone() is not None

    def _held(self, campaign_id: int, idx: int, owner: Owner) -> bool:
        """Whether another live process holds a claim on ``idx``."""
        row = self._db.execute("SELECT owner, host, pid, expires FROM claims WHERE campaign_id = ? AND idx = ?",
                               (campaign_id, idx)).fetchone()
        return row is not None and row[0] != owner.name and _alive(row[1], row[2], row[3])

    def claim(self, campaign: Campaign, idx: int, owner: Owner, lease: float) -> bool:
        """Take run ``idx`` for ``owner``: False when it is stored, or claimed by another live process."""
        with self._transaction():
            if self._stored(campaign, idx) or self._held(campaign.id, idx, owner):
                return False
            self._db.execute("INSERT OR REPLACE INTO claims (campaign_id, idx, owner, host, pid, expires)"
                             " VALUES (?, ?, ?, ?, ?, ?)",
                             (campaign.id, idx, owner.name, owner.host, owner.pid, time.time() + lease))
            return True

    def claim_next(self, campaign: Campaign, owner: Owner, lease: float) -> int:
        """Claim the index after every stored and claimed one (a campaign bounded by time)."""
        table = self._table(campaign)
        with self._transaction():
            top = self._db.execute(
                f"SELECT MAX(m) FROM (SELECT MAX(idx) AS m FROM {table} WHERE campaign_id = ?"
                " UNION ALL SELECT MAX(idx) FROM claims WHERE campaign_id = ?)", (campaign.id, campaign.id)).fetchone()[0]
            idx = -1 if top is None else int(top)
            idx += 1
            self._db.execute("INSERT OR REPLACE INTO claims (campaign_id, idx, owner, host, pid, expires)"
                             " VALUES (?, ?, ?, ?, ?, ?)",
                             (campaign.id, idx, owner.name, owner.host, owner.pid, time.time() + lease))
            return idx

    def stale_claims(self, campaign_id: int, owner: Owner) -> list[int]:
        """Indices claimed by a process that died (on this host) or whose lease ran out, not ``owner``'s."""
        rows = self._db.execute("SELECT idx, owner, host, pid, expires FROM claims WHERE campaign_id = ? ORDER BY idx",
                                (campaign_id,)).fetchall()
        return [r[0] for r in rows if r[1] != owner.name and not _alive(r[2], r[3], r[4])]

    def release_claims(self, campaign_id: int, owner: Owner) -> None:
        """Give back every index ``owner`` claimed and did not store (an interrupted or finished session)."""
        self._db.execute("DELETE FROM claims WHERE campaign_id = ? AND owner = ?", (campaign_id, owner.name))

    def claimed(self, campaign_id: int) -> int:
        """How many runs are claimed and not stored yet (running somewhere)."""
        return int(self._db.execute("SELECT COUNT(*) FROM claims WHERE campaign_id = ?", (campaign_id,)).fetchone()[0])

