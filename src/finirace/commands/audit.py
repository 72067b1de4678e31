"""``finirace audit -- CMD``: threads alive at finalization and what each CPython era does to them."""

from __future__ import annotations

import argparse

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


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from finirace.audit import audit
    from finirace.report.console import console as make_console

    argv = list(args.target)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError("nothing to run: give a Python command after -- (finirace audit -- python prog.py)")
    _check_command(argv)
    report = audit(argv, timeout=args.timeout, gdb=not args.no_gdb)
    if args.html:
        from finirace.report import audit_html, page

        try:
            page.write(args.html, audit_html.document(report, argv))
        except OSError as exc:
            raise UsageError(f"--html {args.html}: cannot write: {exc.strerror or exc}") from None
    console = make_console()
    if not report.recorded:
        console.print(f"no finalization recorded ({escape(report.exit.describe())}): is it a Python 3 program?")
        return 1
    console.print(f"Python {'.'.join(map(str, report.version))}: {len(report.threads)} thread(s) alive at finalization; run {escape(report.exit.describe())}")
    dangerous = 0
    for t in report.threads:
        console.print(f"\n[bold]{escape(t.name)}[/bold] ({'daemon' if t.daemon else 'non-daemon'})")
        if t.python_stack:
            console.print("  python: " + escape(t.python_stack[-1].strip().splitlines()[0]))
        if t.native_top:
            console.print("  native: " + escape(" <- ".join(t.native_top)))
        for era, versions, fate in t.predictions:
            console.print(f"  {era:8} {versions:9} {escape(fate)}")
        for flag in t.flags:
            dangerous += 1
            console.print(f"  [red]danger[/red]: {escape(flag)}")
        if t.fix:
            console.print(f"  [green]{escape(t.fix)}[/green]", soft_wrap=True)
    return 1 if dangerous else 0
