"""``finirace report CAMPAIGN [--json] [--junit FILE]``: a campaign from the store.

Exit status, for CI: a stress campaign with any failure bucket (crash, abort,
memory error, hang, or runs that failed the ordinary way) exits 1, as
``finirace stress`` itself does; 0 when it has none; 2 for bad arguments.

A stress campaign shows its crash buckets; a lab campaign shows the
conformance table ``finirace lab`` printed, rebuilt from the stored runs
(mismatches first), its JSON (the same shape as ``finirace lab --json``, with
the campaign's name and options) and its JUnit XML (one case per row).
"""

from __future__ import annotations

import argparse
import json
import sys

from finirace.commands.arguments import positive
from finirace.commands.runs import add_db_option, open_store
from finirace.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="show a campaign: crash buckets, or a lab conformance table", description="Show a stored campaign: a stress campaign's crash buckets with their "
                              "backtraces and reproduction commands, or a lab campaign's conformance table. "
                              "Exit status: 1 when a stress campaign has failure buckets, else 0 (2: bad arguments).")
    p.add_argument("campaign", help="campaign name (see finirace runs)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--junit", metavar="FILE", help="also write the buckets (or lab rows) as JUnit XML to FILE")
    p.add_argument("-v", "--verbose", action="store_true", help="lab campaigns: show every memory error")
    p.add_argument("--check-repro", nargs="?", const=20, type=positive, metavar="N",
                   help="stress campaigns: run each bucket's reproduction command (N runs, default 20) and keep "
                        "how often it reproduced the bucket")
    p.add_argument("--html", metavar="FILE", help="also write the report as one self-contained HTML page")
    add_db_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from finirace.report import campaign as campaign_report
    from finirace.report.console import console
    from finirace.store import LAB

    with open_store(args) as store:
        campaign = store.campaign(args.campaign)
        if campaign is None:
            known = ", ".join(s.campaign.name for s in store.campaigns()) or "none"
            raise UsageError(f"no campaign named {args.campaign!r} in {store.path} (known: {known})")
        if args.html:
            write_html(args.html, store, campaign)
        if campaign.kind == LAB:
            if args.check_repro:
                raise UsageError("--check-repro is for stress campaigns; a lab campaign has no buckets")
            return _lab(args, store, campaign)
        if args.check_repro:
            _check_repros(store, campaign, args.check_repro)
        data = campaign_report.campaign_data(store, campaign)
    show_buckets(args, data)
    return 1 if data["buckets"] else 0  # as `finirace stress` ends: CI fails on a campaign with failures


def show_buckets(args: argparse.Namespace, data: dict) -> None:
    """A stress campaign's report as ``--junit`` and ``--json`` ask, or the table; ``finirace stress`` ends with it too."""
    from finirace.report import campaign as campaign_report
    from finirace.report.console import console

    if args.junit:
        try:
            campaign_report.write_junit(data, args.junit)
        except OSError as exc:
            raise UsageError(f"--junit {args.junit}: cannot write: {exc.strerror or exc}") from None
    if args.json:
        campaign_report.write_json(data, sys.stdout)
    else:
        campaign_report.buckets_table(data, console())


def _lab(args: argparse.Namespace, store, campaign) -> int:
    from finirace.report import lab

    records = store.lab_runs(campaign.id)  # as graded when they ran: a later model changes nothing
    if args.junit:
        try:
            lab.write_junit(args.junit, records, f"finirace lab {campaign.name}")
        except OSError as exc:
            raise UsageError(f"cannot write {args.junit}: {exc.strerror}") from None
    if args.json:
        data = {"campaign": campaign.name, "kind": campaign.kind, "target_runs": campaign.target_runs,
                "options": {k: v for k, v in campaign.options.items() if k != "plan"}, **lab.to_json(records)}
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    from finirace.report.console import console

    out = console()
    done = f"{len(records)}/{campaign.target_runs}" if campaign.target_runs else str(len(records))
    out.print(f"lab campaign {campaign.name}: {done} runs", markup=False, highlight=False)
    lab.render(out, records, verbose=args.verbose)
    return 0


def write_html(path: str, store, campaign) -> None:
    from finirace.report import campaign_html, page

    try:
        page.write(path, campaign_html.campaign_document(store, campaign))
    except OSError as exc:
        raise UsageError(f"--html {path}: cannot write: {exc.strerror or exc}") from None


def _check_repros(store, campaign, runs: int) -> None:
    """Run every bucket's reproduction command and store how often it reproduced its bucket."""
    from rich.console import Console
    from rich.markup import escape

    from finirace.stress.runner import check_repro

    err = Console(stderr=True)
    for bucket in store.buckets(campaign.id):
        err.print(f"checking: {escape(bucket.signature)}", highlight=False, soft_wrap=True)
        err.print(f"  {escape(check_repro(store, campaign, bucket, runs))}", highlight=False, soft_wrap=True)
