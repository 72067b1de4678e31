"""``finirace runs``: list the campaigns in the store, stress and lab, with their kind.

For a stress campaign "failed" counts runs that crashed, aborted, hung or
hit a memory error; for a lab campaign it counts runs the model does not
predict (graded ``no``) and programs that did not build (``error``), and
"buckets" does not apply.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from finirace.errors import UsageError

if TYPE_CHECKING:
    from finirace.store import Store

# rich and the store (sqlite3) are imported where a command runs, not to build
# the parser: ``finirace --help`` lists every command (bench/startup.py).


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH", help="result store (default: $FINIRACE_DB or the per-user data dir)")


def open_store(args: argparse.Namespace) -> Store:
    """The store named by ``--db``, ``$FINIRACE_DB`` or the per-user default; a bad one is one line."""
    import os

    from finirace.store import DB_ENV, Store, default_path

    from finirace.scenario.format import shown as short

    given = getattr(args, "db", None)
    if given is not None and not given.strip():
        raise UsageError("--db: the path is empty")
    path = Path(given) if given else None
    where = f"--db {short(given)}" if given else (
        f"${DB_ENV}={short(os.environ[DB_ENV])}" if os.environ.get(DB_ENV) else None)
    shown = path or default_path()
    try:
        missing = where is not None and not shown.parent.is_dir()
    except OSError as exc:  # a name the system refuses (too long)
        raise UsageError(f"cannot open the result store {where}: {exc.strerror or exc}") from None
    if missing:
        raise UsageError(f"cannot open the result store {where}: no directory {short(shown.parent)}")
    try:
        return Store(path)
    except Exception as exc:  # sqlite3.DatabaseError, OSError: one line, not a trace
        raise UsageError(f"cannot open the result store {where or shown}: {exc}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("runs", help="list stress and lab campaigns", description="List the stress and lab campaigns in the result store. For a stress "
                              "campaign 'failed' counts crashes, aborts, hangs and memory errors; for a lab campaign, runs "
                              "the model does not predict.")
    add_db_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from finirace.report.console import console

    with open_store(args) as store:
        summaries = store.campaigns()
        if not summaries:
            sys.stdout.write(f"no campaign in {store.path}\n")
            return 0
        _table(summaries, console(soft_wrap=False))
    return 0


def _table(summaries, out) -> None:
    from datetime import datetime

    from rich.markup import escape
    from rich.table import Table

    from finirace.store import LAB

    table = Table(title="finirace campaigns")
    for col in ("campaign", "kind", "runs", "failed", "buckets", "last run", "command"):
        table.add_column(col, justify="right" if col in ("runs", "failed", "buckets") else "left",
                         no_wrap=col in ("kind", "runs", "last run"))
    for s in summaries:
        c = s.campaign
        target = f"/{c.target_runs}" if c.target_runs else ""
        when = datetime.fromtimestamp(s.last_finished).strftime("%Y-%m-%d %H:%M") if s.last_finished else "-"
        command = "finirace " + " ".join(c.argv) if c.kind == LAB else " ".join(c.argv)
        table.add_row(escape(c.name), c.kind, f"{s.runs}{target}", str(s.failures),
                      "-" if c.kind == LAB else str(s.buckets), when, escape(command))
    out.print(table)
