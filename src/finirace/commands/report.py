"""``finirace report CAMPAIGN [--json] [--junit FILE]``: the buckets of a campaign."""

from __future__ import annotations

import argparse
import sys

from finirace.report.console import console

from finirace.commands.runs import add_db_option, open_store
from finirace.errors import UsageError
from finirace.report import campaign as campaign_report


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="show the crash buckets of a campaign", description=__doc__)
    p.add_argument("campaign", help="campaign name (see finirace runs)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--junit", metavar="FILE", help="also write the buckets as JUnit XML to FILE")
    add_db_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        campaign = store.campaign(args.campaign)
        if campaign is None:
            known = ", ".join(s.campaign.name for s in store.campaigns()) or "none"
            raise UsageError(f"no campaign named {args.campaign!r} in {store.path} (known: {known})")
        data = campaign_report.campaign_data(store, campaign)
    if args.junit:
        try:
            campaign_report.write_junit(data, args.junit)
        except OSError as exc:
            raise UsageError(f"cannot write {args.junit}: {exc.strerror}") from None
    if args.json:
        campaign_report.write_json(data, sys.stdout)
    else:
        campaign_report.buckets_table(data, console())
    return 0
