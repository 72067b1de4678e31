"""``finirace audit -- CMD``: threads alive at finalization and what each CPython era does to them."""

from __future__ import annotations

import argparse
import os

from finirace.commands.arguments import duration
from finirace.commands.stress import _check_command
from finirace.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("audit", help="threads alive at interpreter finalization", description="Run a Python program once and show the threads alive when its finalization "
                              "starts, their stacks, and what each CPython era does to them.")
    p.add_argument("--no-gdb", action="store_true", help="do not attach gdb for native stacks")
    p.add_argument("--html", metavar="FILE", help="also write the audit as one self-contained HTML page")
    p.add_argument("--timeout", type=duration, default=120.0, metavar="T", help="time limit of the run (default 120s)")
    p.add_argument("target", nargs=argparse.REMAINDER, help="-- CMD ARGS…")
    p.set_defaults(run=run)


def _frames(frames, limit: int | None = None) -> str:
    from finirace.report.audit import STACK_SHOWN, frames_text  # imported when the audit runs, not for --help

    return frames_text(frames, STACK_SHOWN if limit is None else limit)


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from finirace.audit import audit, not_recorded
    from finirace.audit.ending import stderr_tail
    from rich.text import Text

    from finirace.report.audit import dangers, thread_lines
    from finirace.report.console import console as make_console

    argv = list(args.target)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError("nothing to run: give a Python command after -- (finirace audit -- python prog.py)")
    _check_command(argv, os.getcwd())
    report = audit(argv, timeout=args.timeout, gdb=not args.no_gdb)
    if args.html:
        from finirace.report import audit_html, page

        try:
            page.write(args.html, audit_html.document(report, argv))
        except OSError as exc:
            raise UsageError(f"--html {args.html}: cannot write: {exc.strerror or exc}") from None
    console = make_console()
    if not report.recorded:
        if not report.started and not report.exit.timed_out:
            raise UsageError(not_recorded(report, argv))
        console.print(escape(not_recorded(report, argv)), soft_wrap=True)
        for t in report.hang:
            console.print(f"  thread {t.number} ({escape(t.name)}): {escape(_frames(t.frames))}", soft_wrap=True)
        for line in stderr_tail(report.exit.stderr):
            console.print(f"  stderr: {escape(line)}", soft_wrap=True)
        return 1
    console.print(f"Python {'.'.join(map(str, report.version))}: {len(report.threads)} thread(s) alive at finalization; run {escape(report.exit.describe())}")
    for line in thread_lines(report.threads):
        console.print(Text.assemble(*line), soft_wrap=True)
    dangerous = dangers(report.threads)
    if report.failed:
        console.print(f"\n[red]run {escape(report.exit.describe())}[/red]" + _ended_by(report, escape), soft_wrap=True)
        if report.ending is not None and report.ending.frames:
            console.print("  its stack: " + escape(_frames(report.ending.frames, 16)), soft_wrap=True)
        for line in stderr_tail(report.exit.stderr):
            console.print(f"  stderr: {escape(line)}", soft_wrap=True)
    return 1 if dangerous or report.failed else 0


def _ended_by(report, escape) -> str:
    """``: terminate called … in thread 'engine' (daemon, flagged above)``, as far as it is known."""
    e = report.ending
    if e is None:
        return ""
    text = f": {escape(e.message)}" if e.message else ""
    if report.culprit is not None:
        t = report.culprit
        text += f", in thread '{escape(t.name)}' ({'daemon' if t.daemon else 'non-daemon'}" + (
            ", flagged above)" if t.flags else ")")
    elif report.ended_in_main:
        text += ", in the main thread (the one finalizing)"
    elif e.native_id or e.ident:
        text += ", in a thread that was not alive at the snapshot (started during finalization, or not by threading)"
    return text
