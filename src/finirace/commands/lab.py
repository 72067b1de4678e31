"""``finirace lab``: run scenarios on real interpreters under real detectors, compare with the model.

Exit status: 0 when every run fits the model's prediction (or there is none),
1 when one does not (a finding: see docs/lab.md), 2 for bad input (a scenario
that does not parse, a missing ``--python``, an unknown detector, a program
that does not build).
"""

from __future__ import annotations

import argparse
import json
import sys

from finirace.errors import UsageError

DETECTOR_NAMES = ("plain", "pymalloc-debug", "valgrind", "gdb", "assert")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "lab",
        help="reproduce scenarios on real interpreters and compare with the model",
        description="Generate a C program per scenario, build it against real interpreters, run it under "
        "detectors, and compare each outcome with the model's prediction for that interpreter's era.",
    )
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                   help="a scenario file or bundled name (default with --catalog: the whole bundled catalog)")
    p.add_argument("--catalog", action="store_true", help="every bundled scenario")
    p.add_argument("--python", action="append", metavar="PATH", help="an interpreter to embed (repeatable)")
    p.add_argument("--all", action="store_true", help="every interpreter found (see finirace pythons)")
    p.add_argument("--detector", action="append", choices=DETECTOR_NAMES, metavar="NAME",
                   help=f"how to watch each run (repeatable; {', '.join(DETECTOR_NAMES)}; default plain)")
    p.add_argument("--repeat", type=_positive, default=1, metavar="N", help="run each program N times")
    p.add_argument("--jobs", type=_positive, default=2, metavar="N", help="runs at once (default 2)")
    p.add_argument("--timeout", type=_seconds, default=10.0, metavar="S",
                   help="seconds before a run counts as a timeout (scaled up for slow detectors; default 10)")
    p.add_argument("--schedule", metavar="TOKEN",
                   help="a schedule from `finirace check`: order the program's steps as it does")
    p.add_argument("--emit-c", metavar="FILE", help="write the generated program (C or C++) to FILE and stop")
    p.add_argument("--html", metavar="FILE", help="write an HTML timeline of the first run to FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object with a list 'runs'")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report, one case per table row")
    p.add_argument("-v", "--verbose", action="store_true", help="show every memory error")
    p.set_defaults(run=run)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _seconds(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not s > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return s


def run(args) -> int:
    from finirace import conformance
    from finirace.lab import interpreters, session
    from finirace.scenario import catalog

    if args.scenarios:
        scenarios = [catalog.resolve(s) for s in args.scenarios]
    elif args.catalog:
        scenarios = catalog.load_bundled()
    else:
        raise UsageError("name a scenario (a .toml file or a bundled name), or give --catalog")
    if args.catalog and args.scenarios:
        scenarios += catalog.load_bundled()
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise UsageError(f"two scenarios are named {twice[0]!r}: rename one (the table tells them apart by name)")
    if args.schedule and len(scenarios) != 1:
        raise UsageError("--schedule applies to one scenario; name exactly one")

    interps = interpreters.resolve(args.python, args.all)
    usable = [i for i in interps if i.can_embed]
    for i in interps:
        if not i.can_embed:
            sys.stderr.write(f"finirace lab: skipping {i.path}: cannot embed: {i.reason}\n")
    if not usable:
        raise UsageError("no interpreter here can embed: " + "; ".join(f"{i.path}: {i.reason}" for i in interps))

    orderings: dict = {}
    projection = None
    if args.schedule:
        sc = scenarios[0]
        variant = conformance.variant_for(usable[0])
        if variant is None:
            raise UsageError(f"--schedule: the model has no era for {usable[0].version_text}")
        try:
            projection = conformance.project_schedule(sc, variant, args.schedule)
        except ImportError as exc:
            raise UsageError(f"--schedule needs the model and explorer: {exc}") from None
        orderings[sc.name] = projection.orderings
        if projection.split:
            names = ", ".join(str(r) for r in projection.split)
            sys.stderr.write(f"finirace lab: schedule {projection.token} runs other threads inside {names}; "
                             "a C program can only order whole calls, so that part is approximated\n")

    if args.emit_c:
        program = session.program_for(scenarios[0], orderings.get(scenarios[0].name, ()))
        try:
            with open(args.emit_c, "w", encoding="utf-8") as f:
                f.write(program.source)
        except OSError as exc:
            raise UsageError(f"--emit-c {args.emit_c}: cannot write: {exc.strerror or exc}") from None
        sys.stdout.write(f"wrote {program.language} program for {scenarios[0].name} to {args.emit_c}\n")
        return 0

    detectors = args.detector or ["plain"]
    jobs = session.plan(scenarios, usable, detectors, args.repeat)
    progress, stop = _progress(len(jobs))
    try:
        runs = session.execute(jobs, workers=args.jobs, timeout=args.timeout, orderings=orderings, progress=progress)
    finally:
        stop()
    if len(runs) == 1 and runs[0].skipped and "does not build" in runs[0].note:
        raise UsageError(runs[0].note)
    by_name = {s.name: s for s in scenarios}
    def prediction(run):
        interp = _interp(usable, run.python)
        if projection is not None and conformance.variant_for(interp) == projection.variant:
            return projection.prediction  # what this schedule leads to in the model
        return conformance.predict(by_name[run.scenario], interp)

    comparisons = [conformance.grade(r, prediction(r)) for r in runs]

    if args.html:
        _write_html(args.html, runs, by_name, orderings)
    if args.junit:
        _write_junit(args.junit, comparisons)
    if args.json:
        from finirace.report.lab import to_json

        sys.stdout.write(json.dumps(to_json(comparisons), indent=2) + "\n")
    else:
        from finirace.report.console import console

        from finirace.report.lab import render

        render(console(), comparisons, verbose=args.verbose)
    return 1 if any(c.match == conformance.NO for c in comparisons) else 0


def _interp(interps, path):
    return next(i for i in interps if i.path == path)


def _progress(total: int):
    """A live progress line on a terminal; nothing when piped."""
    if not sys.stderr.isatty() or total < 2:
        return None, lambda: None
    from finirace.report.console import console
    from rich.progress import Progress

    bar = Progress(transient=True, console=console(stderr=True))
    bar.start()
    task = bar.add_task("lab runs", total=total)
    return (lambda done, _total: bar.update(task, completed=done)), bar.stop


def _write_html(path: str, runs, by_name, orderings) -> None:
    from finirace.lab.codegen import generate
    from finirace.report.html import timeline

    first = next((r for r in runs if not r.skipped), None)
    if first is None:
        raise UsageError(f"--html {path}: no run was made, nothing to draw")
    program = generate(by_name[first.scenario], orderings.get(first.scenario, ()))
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(timeline(first, program))
    except OSError as exc:
        raise UsageError(f"--html {path}: cannot write: {exc.strerror or exc}") from None


def _write_junit(path: str, comparisons) -> None:
    from finirace.report import junit
    from finirace.report.lab import rows

    cases = [
        junit.Case(
            classname="lab." + r.scenario,
            name=f"{r.scenario} on {r.version} ({r.detector})",
            failure=(f"outcome {r.outcome!r}, the model predicts {r.predicted!r}" if r.match == "no" else None),
            skipped=(r.note or "not run") if r.match == "skipped" else None,
            output=f"outcome: {r.outcome}\npredicted: {r.predicted}\nmatch: {r.match}",
        )
        for r in rows(comparisons)
    ]
    try:
        junit.write(path, "finirace lab", cases)
    except OSError as exc:
        raise UsageError(f"--junit {path}: cannot write: {exc.strerror or exc}") from None
