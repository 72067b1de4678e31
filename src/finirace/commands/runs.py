"""``finirace runs``: list the stress campaigns in the store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from finirace.report.console import console

from finirace.errors import UsageError
from finirace.store import DB_ENV, Store


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH", help=f"result store (default: ${DB_ENV} or the per-user data dir)")


def open_store(args: argparse.Namespace) -> Store:
    path = Path(args.db) if getattr(args, "db", None) else None
    try:
        return Store(path)
    except Exception as exc:  # sqlite3.DatabaseError, OSError: one line, not a trace
        raise UsageError(f"cannot open the result store {path or 'default'}: {exc}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("runs", help="list stress campaigns", description=__doc__)
    add_db_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        summaries = store.campaigns()
        if not summaries:
            sys.stdout.write(f"no campaign in {store.path}\n")
            return 0
        from finirace.report.campaign import campaigns_table

        campaigns_table(summaries, console(soft_wrap=False))
    return 0
