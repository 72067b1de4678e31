"""``finirace lab``: run scenarios on real interpreters under real detectors, compare with the model.

Exit status: 0 when every run fits the model's prediction (or there is none),
1 when one does not (a finding: see docs/lab.md) or a program of a sweep did
not build (its runs are ``build-failed``, graded ``error``), 2 for bad input (a
scenario that does not parse, a missing ``--python``, an unknown detector, the
one program asked for that does not build, a store that cannot be opened).

Every run goes into the result store (the one ``finirace stress`` uses) the
moment it ends: one campaign of kind ``lab`` per invocation, named by
``--campaign`` or generated, and ``finirace report NAME`` draws the same
table from the store later.  Naming an existing lab campaign with the same
plan (scenarios, interpreters, detectors, repeat) resumes it: only the runs it
does not hold yet are made.  ``--no-store`` keeps nothing.
"""

from __future__ import annotations

import json
import os
import sys

from finirace.commands.arguments import campaign_name, duration, positive
from finirace.detectors import registry
from finirace.errors import UsageError

DETECTOR_NAMES = registry.names(lab=True)


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
    p.add_argument("--repeat", type=positive, default=1, metavar="N", help="run each program N times")
    p.add_argument("--jobs", type=positive, default=2, metavar="N", help="runs at once (default 2)")
    p.add_argument("--timeout", type=duration, default=10.0, metavar="S",
                   help="seconds before a run counts as a timeout (scaled up for slow detectors; default 10)")
    p.add_argument("--schedule", metavar="TOKEN",
                   help="a schedule from `finirace check`: order the program's steps as it does")
    p.add_argument("--counterexamples", action="store_true",
                   help="run every counterexample of `finirace check` that switches threads inside a call, "
                   "exactly under gdb where the interpreter's line map allows (one row per counterexample)")
    p.add_argument("--emit-c", metavar="FILE", help="write the generated program (C or C++) to FILE and stop")
    p.add_argument("--html", metavar="FILE", help="write an HTML timeline of the first run to FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object with a list 'runs'")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report, one case per table row")
    p.add_argument("-v", "--verbose", action="store_true", help="show every memory error")
    p.add_argument("--campaign", metavar="NAME", type=campaign_name,
                   help="store the runs as this lab campaign (default: lab-DATE-TIME); an existing one with the "
                   "same plan resumes")
    p.add_argument("--db", metavar="PATH", help="result store (default: $FINIRACE_DB or the per-user data dir)")
    p.add_argument("--no-store", action="store_true", help="keep nothing in the result store")
    p.set_defaults(run=run)


def run(args) -> int:
    from finirace import conformance
    from finirace.lab import interpreters, session
    from finirace.scenario import catalog

    if args.emit_c:
        # --emit-c runs nothing: an option that reports on runs would be silently ignored
        ignored = [o for o, given in (("--html", args.html), ("--junit", args.junit), ("--json", args.json),
                                      ("--campaign", args.campaign)) if given]
        if ignored:
            raise UsageError(f"--emit-c writes the program and runs nothing, so {ignored[0]} has nothing to show: "
                             "drop one of them")
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
    if args.emit_c and len(scenarios) != 1:
        raise UsageError(f"--emit-c writes one program: name one scenario, not {len(scenarios)}")
    if args.schedule and len(scenarios) != 1:
        raise UsageError("--schedule applies to one scenario; name exactly one")
    if args.counterexamples and (args.schedule or args.emit_c):
        raise UsageError("--counterexamples runs the model's own schedules: drop --schedule/--emit-c")

    interps = interpreters.resolve(args.python, args.all)
    usable = [i for i in interps if i.can_embed]
    if not usable:
        raise UsageError("no interpreter here can embed: " + "; ".join(f"{i.path}: {i.reason}" for i in interps))
    for i in interps:
        if not i.can_embed:
            sys.stderr.write(f"finirace lab: skipping {i.path}: cannot embed: {i.reason}\n")

    orderings: dict = {}
    projection = None
    projections: dict = {}  # era -> the schedule projected in it
    if args.schedule:
        sc = scenarios[0]
        variants = list(dict.fromkeys(v for v in map(conformance.variant_for, usable) if v is not None))
        if not variants:
            raise UsageError(f"--schedule: the model has no era for {usable[0].version_text}")
        # every era (in interpreter order) the token fits: eras that share steps share schedules
        failure = None
        for variant in variants:
            try:
                projections[variant] = conformance.project_schedule(sc, variant, args.schedule)
            except ImportError as exc:
                raise UsageError(f"--schedule needs the model and explorer: {exc}") from None
            except UsageError as exc:
                failure = failure or exc
        if not projections:
            raise failure
        projection = next(iter(projections.values()))
        orderings[sc.name] = projection.orderings
        if projection.split and projection.exact is None:
            names = ", ".join(str(r) for r in projection.split)
            sys.stderr.write(f"finirace lab: schedule {projection.token} runs other threads inside {names}; "
                             "a C program can only order whole calls, so that part is approximated\n")

    if args.emit_c:
        return _emit(args, scenarios[0], orderings, projection, usable[0])
    if args.counterexamples:
        return _counterexamples(args, scenarios, usable)

    detectors = args.detector or ["plain"]
    exact_plans: dict = {}
    if any(p.exact is not None for p in projections.values()):
        from finirace.outcome import RunKind

        if not args.detector and any(p.outcome.kind is RunKind.MEMORY_ERROR for p in projections.values()):
            detectors = ["pymalloc-debug"]  # plain cannot see a read of freed memory; the debug allocator can
        for interp in usable:
            era = projections.get(conformance.variant_for(interp))
            if era is not None and era.exact is not None:
                exact_plans[(scenarios[0].name, interp.path)] = era.exact
    jobs = session.plan(scenarios, usable, detectors, args.repeat)
    moved = 0
    if not args.detector and not projections:
        jobs, moved = _memory_errors_under_memcheck(jobs)
    if args.no_store and (args.campaign or args.db):
        raise UsageError("--no-store keeps nothing: drop --campaign/--db, or --no-store")
    by_name = {s.name: s for s in scenarios}

    def prediction(run):
        interp = _interp(usable, run.python)
        era = projections.get(conformance.variant_for(interp))
        if era is not None:
            return era.prediction  # what this schedule leads to in the model
        return conformance.predict(by_name[run.scenario], interp)

    stored = None if args.no_store else _open_campaign(args, jobs)
    if moved:  # said once the store is open: a bad store is the one line the user sees
        sys.stderr.write(f"finirace lab: {moved} run(s) where the model predicts a memory error go under valgrind "
                         "(plain cannot see one; --detector plain keeps them plain)\n")
    try:
        return _sweep(args, jobs, stored, prediction, by_name, orderings, exact_plans)
    finally:
        if stored is not None:
            stored.store.close()


def _memory_errors_under_memcheck(jobs):
    """Jobs whose prediction holds a memory error, moved to valgrind (and how many): plain cannot see one.

    Without it such a cell is graded ``weak`` whatever happens (a crash, an abort
    or a clean exit all fit undefined behaviour); under memcheck it is ``yes`` or
    ``no``.  Only when no detector was asked for: ``--detector plain`` keeps plain.
    """
    from dataclasses import replace

    from finirace import conformance
    from finirace.outcome import RunKind

    if registry.spec("valgrind").create().available() is not None:
        return jobs, 0  # no valgrind here: the cells stay plain, and weak
    out, moved = [], 0
    for job in jobs:
        predicted = conformance.predict(job.scenario, job.interpreter).outcomes
        if any(o.kind is RunKind.MEMORY_ERROR for o in predicted):
            job, moved = replace(job, detector="valgrind"), moved + 1
        out.append(job)
    return out, moved


def _counterexamples(args, scenarios, usable) -> int:
    """``--counterexamples``: each counterexample that needs gdb, as a scenario of its own."""
    from finirace import exactsweep

    if args.no_store and (args.campaign or args.db):
        raise UsageError("--no-store keeps nothing: drop --campaign/--db, or --no-store")
    todo = exactsweep.plan(scenarios, usable, args.detector, args.repeat)
    if not todo.jobs:
        raise UsageError("no counterexample here switches threads inside a call (for the eras of these interpreters)")
    stored = None if args.no_store else _open_campaign(args, todo.jobs)
    try:
        return _sweep(args, todo.jobs, stored, lambda run: todo.predictions[run.scenario], todo.scenarios,
                      todo.orderings, todo.exact_plans)
    finally:
        if stored is not None:
            stored.store.close()


def _open_campaign(args, jobs):
    """The sweep's lab campaign in the store (``finirace.campaign``): new, or resumed."""
    from finirace.campaign import open_lab
    from finirace.commands.runs import open_store

    store = open_store(args)
    try:
        return open_lab(store, args.campaign, jobs, repeat=args.repeat, timeout=args.timeout, schedule=args.schedule)
    except BaseException:
        store.close()
        raise


def _sweep(args, jobs, stored, prediction, by_name, orderings, exact_plans=None) -> int:
    """Run the jobs still to make, grade and store each as it ends, then show the whole campaign."""
    from finirace import conformance
    from finirace.campaign import lab_record
    from finirace.lab import session
    from finirace.outcome import RunKind

    todo = list(range(len(jobs))) if stored is None else list(stored.pending(len(jobs)))
    earlier = {} if stored is None else stored.earlier()
    graded: dict = {}
    made: dict = {}  # the live runs, for --html (the store keeps no markers)

    def on_run(n, job, run):
        path = job.scenario.path
        record = lab_record(todo[n], conformance.grade(run, prediction(run)), repetition=job.repetition,
                            scenario_path=_storable(path) if path else None, schedule=args.schedule)
        graded[todo[n]], made[todo[n]] = record, run
        if stored is not None:
            stored.record_lab(record)

    progress, stop = _progress(len(todo))
    try:
        session.execute([jobs[i] for i in todo], workers=args.jobs, timeout=args.timeout, orderings=orderings,
                        progress=progress, on_run=on_run, exact_plans=exact_plans)
    finally:
        stop()
    runs = [made[i] for i in todo]
    if len(jobs) == 1 and runs and runs[0].outcome.kind is RunKind.BUILD_FAILED:
        raise UsageError(runs[0].outcome.reason)
    every = {**earlier, **graded}
    records = [every[i] for i in sorted(every)]

    if args.html:
        drawn = _write_html(args.html, runs, by_name, orderings)
        if stored is not None:
            stored.store.set_lab_run_html(stored.campaign.id, todo[drawn], str(args.html))
    if args.junit:
        _write_junit(args.junit, records)
    if args.json:
        from finirace.report.lab import to_json

        data = to_json(records)
        if stored is not None:
            data = {"campaign": stored.name, "db": str(stored.store.path), **data}
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        from finirace.report.console import console

        from finirace.report.lab import render

        render(console(), records, verbose=args.verbose)
    if stored is not None:
        resumed = f", {len(earlier)} of them from before" if earlier else ""
        out = sys.stderr if args.json else sys.stdout
        out.write(f"stored {len(records)} run{'s' * (len(records) != 1)}{resumed} as lab campaign {stored.name} in "
                  f"{stored.store.path}: finirace report {stored.name}\n")
    return 1 if any(r.grade in (conformance.NO, conformance.ERROR) for r in records) else 0


def _storable(path) -> str:
    """A path as text SQLite can hold: a byte that is not UTF-8 is written as ``\\xff``."""
    import os

    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _emit(args, scenario, orderings, projection, interp) -> int:
    """``--emit-c``: the program, and with an exact schedule the gdb script that orders it."""
    from finirace.lab import exact, linemap, session

    plan = projection.exact if projection is not None else None
    lines = linemap.for_interpreter(interp) if plan is not None else None
    why = exact.missing(plan, lines, interp) if plan is not None else None
    program = session.program_for(scenario, orderings.get(scenario.name, ()) if plan is None or why else ())
    outputs = [(args.emit_c, program.source, f"{program.language} program for {scenario.name}")]
    if plan is not None and why is None:
        data = exact.gdb_plan(plan, program, lines, os.path.basename(args.emit_c), {"PYTHONMALLOC": "debug"})
        gdb_path = os.path.splitext(args.emit_c)[0] + ".gdb.py"
        binary = os.path.splitext(os.path.basename(args.emit_c))[0]
        header = (f"finirace exact schedule {plan.token} of {scenario.name} for CPython {interp.version_text}\n"
                  f"Build: cc -g -O0 -o {binary} {os.path.basename(args.emit_c)} $(python{interp.version[0]}."
                  f"{interp.version[1]}-config --cflags --ldflags --embed) -lpthread\n"
                  f"Run:   gdb -nx -batch -x {os.path.basename(gdb_path)} ./{binary}")
        outputs.append((gdb_path, exact.script(data, header), f"gdb script that orders it ({plan.token})"))
    elif plan is not None:
        sys.stderr.write(f"finirace lab: no gdb script for {interp.version_text}: {why}; the program orders whole "
                         "calls only\n")
    for path, text, what in outputs:
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise UsageError(f"--emit-c {path}: cannot write: {exc.strerror or exc}") from None
        sys.stdout.write(f"wrote {what} to {path}\n")
    return 0


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
    from finirace.outcome import RunKind
    from finirace.report.html import timeline

    drawn = next((n for n, r in enumerate(runs) if not r.skipped and r.outcome.kind is not RunKind.BUILD_FAILED), None)
    if drawn is None:
        raise UsageError(f"--html {path}: no run was made, nothing to draw")
    first = runs[drawn]
    program = generate(by_name[first.scenario], orderings.get(first.scenario, ()))
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(timeline(first, program))
    except OSError as exc:
        raise UsageError(f"--html {path}: cannot write: {exc.strerror or exc}") from None
    return drawn


def _write_junit(path: str, records) -> None:
    from finirace.report.lab import write_junit

    try:
        write_junit(path, records)
    except OSError as exc:
        raise UsageError(f"--junit {path}: cannot write: {exc.strerror or exc}") from None
