"""``finirace stress [--runs N | --time T] [-j J] [--perturb …] [--campaign NAME] [--json] [--junit F] [--html F] -- CMD ARGS…``"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from finirace.commands.arguments import campaign_name, duration, positive
from finirace.errors import UsageError

from finirace.detectors import registry

# Imported when a campaign runs, not to build the parser: ``finirace --help``
# and every other command stay quick to start (rich, sqlite, detectors, proc).
# The detector registry is a table of names: cheap.
LEVELS = ("mix", "none", "python", "native", "all")  # finirace.stress.perturb.LEVELS
DETECTORS = tuple(sorted(registry.names(stress=True)))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "stress", help="run a command many times, catch crashes and hangs at exit", description="Run a command many times in parallel with shutdown perturbation, catch "
        "crashes, aborts, memory errors and hangs at exit, and group them by signature, each with a "
        "reproduction command. Every run is stored as it ends: --campaign NAME resumes.",
    )
    p.add_argument("--runs", type=positive, metavar="N", help="number of runs (default 100)")
    p.add_argument("--time", type=duration, metavar="T", help="run for this long instead (90, 5m, 1h)")
    p.add_argument("-j", "--jobs", type=positive, metavar="J", help="parallel runs (default: one per core)")
    p.add_argument("--perturb", choices=LEVELS, default=None, help="perturbation (default mix: per run none, python or all, most runs pinned to one CPU; "
                   "all adds native delays)")
    p.add_argument("--detector", choices=DETECTORS, default=None, help="run every run under this detector")
    p.add_argument("--campaign", metavar="NAME", type=campaign_name, help="store under this name; an existing name resumes it")
    p.add_argument("--timeout", type=duration, default=None, metavar="T", help="time limit of one run (default 60s)")
    p.add_argument("--seed", type=int, default=None, help="base seed: run i gets seed+i (default random)")
    p.add_argument("--cwd", metavar="DIR", help="run the command in this directory (default: here)")
    p.add_argument("--env", metavar="NAME=VALUE", action="append", default=[],
                   help="a variable for the target, kept with the campaign and in its reproduction commands "
                        "(repeatable; NAME alone takes it from here; PYTHON* and LD_* set here are kept anyway)")
    p.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler instead of locally")
    p.add_argument("--db", metavar="PATH", help="result store (default: $FINIRACE_DB or the per-user data dir)")
    p.add_argument("--json", action="store_true", help="print the campaign's report as JSON (as finirace report --json)")
    p.add_argument("--junit", metavar="FILE", help="also write the buckets as JUnit XML to FILE")
    p.add_argument("--html", metavar="FILE", help="also write the report as one self-contained HTML page")
    p.add_argument("target", nargs=argparse.REMAINDER, help="-- CMD ARGS…")
    p.set_defaults(run=run)


def _check_output(option: str, path: str | None) -> None:
    """A report file that cannot be written is found before the campaign, not after its work is done."""
    if path is None:
        return
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a directory")
    if not os.path.isdir(parent):
        raise UsageError(f"{option} {path}: no such directory: {parent}")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{option} {path}: cannot write in {parent}")


def _env(items: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        name, eq, value = item.partition("=")
        if not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise UsageError(f"--env {item}: not NAME=VALUE")
        if not eq:
            if name not in os.environ:
                raise UsageError(f"--env {name}: not set here; give NAME=VALUE")
            value = os.environ[name]
        out.append((name, value))
    return tuple(out)


def _check_command(argv: list[str], cwd: str) -> None:
    exe = argv[0]
    if os.sep in exe:
        exe = os.path.join(cwd, exe)
        if not os.path.exists(exe):
            raise UsageError(f"command not found: {exe}")
        if os.path.isdir(exe) or not os.access(exe, os.X_OK):
            raise UsageError(f"not executable (no run bit): {exe}")
    elif shutil.which(exe) is None:
        raise UsageError(f"command not found on PATH: {exe}")


def _check_dask(address: str) -> None:
    """A scheduler address that cannot be one is a usage error before any campaign is opened."""
    try:
        from distributed.comm.addressing import parse_address, parse_host_port
    except ImportError:
        raise UsageError("--dask needs the dask extra: pip install 'finirace[dask]'") from None
    try:
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(location)
    except ValueError as exc:
        raise UsageError(f"--dask {address}: not a scheduler address ({exc}); e.g. tcp://HOST:8786") from None


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from finirace.campaign import new_name
    from finirace.commands.report import show_buckets, write_html
    from finirace.commands.runs import open_store
    from finirace.stress.perturb import Perturbation, ShimError, build_shim
    from finirace.stress.runner import CampaignSettings, open_campaign, run_campaign, target_environment

    argv = list(args.target)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if args.runs is not None and args.time is not None:
        raise UsageError("give --runs or --time, not both")
    cwd = os.path.abspath(args.cwd or ".")
    if not os.path.isdir(cwd):
        raise UsageError(f"--cwd {args.cwd}: no such directory")
    if argv:
        _check_command(argv, cwd)
    elif not args.campaign:
        raise UsageError("nothing to run: give a command after -- (finirace stress -- python prog.py)")
    if args.dask:
        _check_dask(args.dask)
    _check_output("--junit", args.junit)
    _check_output("--html", args.html)
    detector = args.detector or "plain"
    missing = registry.spec(detector).create().available()
    if missing:
        raise UsageError(missing)
    level = args.perturb or "mix"
    if level in ("native", "all", "mix"):
        try:
            build_shim()
        except ShimError as exc:
            if level != "mix":
                raise UsageError(str(exc)) from None
            level = "python"  # no gcc: no native delays or contention, the Python-level perturbation alone
    settings = CampaignSettings(
        argv=tuple(argv),
        runs=args.runs if args.runs is not None or args.time is not None else None,
        seconds=args.time,
        jobs=args.jobs or os.cpu_count() or 1,
        timeout=args.timeout or 60.0,
        perturbation=Perturbation(level=level),
        detector=detector,
        seed=args.seed if args.seed is not None else int.from_bytes(os.urandom(3), "big") * 1000,
        dask=args.dask,
        cwd=cwd,
        env=target_environment(_env(args.env)),
    )
    with open_store(args) as store:
        name = args.campaign or new_name(store, "stress")
        campaign, settings = open_campaign(store, name, settings)
        console = Console(stderr=True)
        show = _Display(console, name)
        resumed = store.run_count(campaign.id)
        if resumed:
            console.print(f"resuming {escape(name)}: {resumed} runs already recorded", highlight=False)
        try:
            final = run_campaign(store, campaign, settings, show.update)
        finally:
            show.stop()
        from finirace.report import campaign as campaign_report

        data = campaign_report.campaign_data(store, campaign)
        if args.html:
            write_html(args.html, store, campaign)
    show_buckets(args, data)
    return 1 if final.failures else 0


class _Display:
    """A live progress line on a terminal; a plain line per new bucket and every 5 s otherwise."""

    def __init__(self, console, name: str) -> None:  # a rich Console
        self.console = console
        self.name = name
        self.live = console.is_terminal
        self.status = console.status("") if self.live else None
        if self.status is not None:
            self.status.start()
        self.last_line = 0.0

    def _line(self, p) -> str:  # p: finirace.stress.runner.Progress
        total = f"/{p.total}" if p.total else ""
        top = "; ".join(f"{n}× {sig[:60]}" for sig, n in p.buckets[:3])
        return f"{self.name}: {p.done}{total} runs, {p.rate:.1f}/s, {p.failures} failed" + (f" [{top}]" if top else "")

    def update(self, p) -> None:
        from rich.markup import escape

        if p.new_bucket is not None:
            self.console.print(f"new bucket: {escape(p.new_bucket.signature)} (run {p.new_bucket.first_run})", highlight=False)
        if self.status is not None:
            self.status.update(escape(self._line(p)))
            return
        now = time.monotonic()
        if now - self.last_line >= 5 or (p.total and p.done == p.total):
            self.last_line = now
            self.console.print(escape(self._line(p)), highlight=False, soft_wrap=True)
            sys.stderr.flush()

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
