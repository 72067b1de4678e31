"""``finirace check``: every interleaving of scenarios under the model's variants.

Exit status: 0 when every verdict matches the scenario's expectation (or there
is none), 1 when one differs, 2 for bad input (unknown variant or scenario, a
scenario file error, a schedule token that does not fit).
"""

from __future__ import annotations

import json
import sys

from finirace.commands.arguments import duration, natural, positive
from finirace.errors import UsageError


MAX_PCT_RUNS = 1_000_000  # a bound on a campaign's size; --time bounds its length


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "check",
        help="explore every interleaving of scenarios under each model variant",
        description="Explore every interleaving of scenarios under the model of each CPython behaviour.",
    )
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="a scenario file or bundled name (default: the whole catalog)")
    p.add_argument("--variant", action="append", metavar="V", help="a model variant (repeatable; default: all)")
    p.add_argument("--variant-file", action="append", metavar="FILE", default=[],
                   help="a Python file defining VARIANT, a change to an era (docs/variant-files.md); repeatable; "
                        "its variants run beside the built-in ones")
    p.add_argument("--json", action="store_true", help="print one JSON object with a list 'results'")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report, one case per scenario × variant")
    p.add_argument("--html", metavar="FILE", help="write every counterexample as one HTML page (lanes per thread)")
    p.add_argument("--replay", metavar="SCHEDULE", help="replay one schedule token and print its trace")
    p.add_argument("--preemptions", type=natural, metavar="K", help="explore only runs with at most K preemptions")
    p.add_argument("--reduction", choices=("symmetry", "persistent", "sleep", "dpor", "none"), default=None,
                   help="exhaustive search: state caching with symmetry reduction where threads are alike (and "
                        "persistent sets on large ones), else sleep sets (default); symmetry and persistent sets; "
                        "caching + sleep sets only; stateless DPOR; or caching only")
    p.add_argument("--strict", action="store_true",
                   help="an expected outcome a bounded or PCT search does not reach fails (default: a warning)")
    p.add_argument("--pct", action="store_true", help="random PCT runs instead of an exhaustive search")
    p.add_argument("--runs", type=positive, default=1000, metavar="N",
                   help=f"PCT runs (default 1000, at most {MAX_PCT_RUNS:,})")
    p.add_argument("--time", type=duration, metavar="T", help="PCT: stop the whole check after about this long (90, 90s, 5m), runs or not; each scenario under each variant gets an equal share")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="PCT seed (default 0)")
    p.add_argument("--depth", type=positive, default=3, metavar="D", help="PCT bug depth (default 3)")
    p.add_argument("-j", "--jobs", type=positive, metavar="J",
                   help="searches at once, each in a process of its own (default: one per core; 1: in this "
                        "process, with each search's progress)")
    p.add_argument("-v", "--verbose", action="store_true", help="show every counterexample, not only mismatches")
    p.add_argument("--print-expect", action="store_true",
                   help="print, per scenario, the [expect] entries of what the model reaches (exhaustive search only)")
    p.add_argument("--write-expect", action="store_true",
                   help="write what the model reaches into each scenario file's [expect] (how a new era gets its entries)")
    p.set_defaults(run=run)


def _variants(chosen: list[str] | None, extra=()) -> tuple[list[str], list[str]]:
    """(known variants, the ones to run); an unknown name is a usage error.  ``extra``: the
    names of variants from variant files."""
    import difflib

    try:
        from finirace.model import VARIANTS
    except ImportError:
        raise UsageError("the model is not available in this build of finirace (finirace.model.VARIANTS)") from None
    known = list(VARIANTS) + list(extra)
    if not chosen:
        return known, known
    for v in chosen:
        if v not in known:
            close = difflib.get_close_matches(v, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            if not close and not extra:
                hint = "; a variant file's variant needs its --variant-file FILE too"
            raise UsageError(f"unknown variant {v!r}{hint} (known: {', '.join(known)})")
    return known, list(dict.fromkeys(chosen))


def _strategy(args, searches: int, jobs: int = 1):
    from finirace.explore import PCT, Exhaustive, PreemptionBounded

    if args.pct and args.preemptions is not None:
        raise UsageError("--pct and --preemptions are different searches: give one")
    reduction = getattr(args, "reduction", None)
    if reduction is not None:
        if args.pct or args.preemptions is not None:
            raise UsageError("--reduction chooses how the exhaustive search prunes: it goes with neither --pct nor --preemptions")
        return Exhaustive(reduction)
    if getattr(args, "time", None) is not None and not args.pct:
        raise UsageError("--time limits a PCT campaign: it goes with --pct")
    if args.pct:
        if args.runs > MAX_PCT_RUNS:
            raise UsageError(f"--runs {args.runs}: at most {MAX_PCT_RUNS:,} PCT runs (use --time to stop a long campaign)")
        # --time bounds the command, not each search: five minutes for the whole catalog under
        # every era must not mean five minutes times 310.  An equal share each, rather than one
        # deadline for all, so that the last search is not left with no time at all; searches
        # side by side (--jobs) each get as many shares as run at once.
        return PCT(args.runs, args.seed, args.depth, time_limit=getattr(args, "time", None), shared_by=searches,
                   at_once=jobs)
    if args.preemptions is not None:
        return PreemptionBounded(args.preemptions)
    return None


def run(args) -> int:
    from finirace.explore.pool import at_once, cores, run_all
    from finirace.scenario import check_variants, load_bundled, resolve

    files = getattr(args, "variant_file", None) or []
    user: dict = {}
    if files:
        from finirace.model import VARIANTS
        from finirace.model.variantfile import load_variant_files

        user = load_variant_files(files, VARIANTS)
    known, names = _variants(args.variant, user)
    variants = [user.get(n, n) for n in names]  # a variant file's variant runs as its Variant
    scenarios = [resolve(ref) for ref in args.scenarios] if args.scenarios else load_bundled()
    for sc in scenarios:
        check_variants(sc, known)
    if args.replay is not None:
        return _replay(args, scenarios, variants)
    if user and (getattr(args, "write_expect", False)):
        raise UsageError("--write-expect writes the built-in eras' entries: not with --variant-file")
    total = len(scenarios) * len(variants)
    jobs = at_once(getattr(args, "jobs", None) or cores(), total)
    strategy = _strategy(args, total, jobs)
    expectations = getattr(args, "print_expect", False) or getattr(args, "write_expect", False)
    if expectations and (args.pct or args.preemptions is not None or args.json or args.junit):
        raise UsageError("--print-expect/--write-expect need every run explored: not with --pct, --preemptions, --json or --junit")

    from finirace.explore import check

    tty = sys.stderr.isatty() and not args.json
    cells = [(sc, var) for sc in scenarios for var in variants]
    if jobs > 1:
        verdicts = run_all(cells, lambda cell: _check_one(check, *cell, strategy, None), jobs,
                           _done_line(jobs) if tty else None)
    else:
        verdicts = []
        for sc, var in cells:
            where = f"{sc.name} under {getattr(var, 'name', var)} ({len(verdicts) + 1}/{total})"
            progress = _progress_line(where) if tty else None
            verdicts.append(_check_one(check, sc, var, strategy, progress))
    if tty:
        sys.stderr.write("\r\x1b[K")
    if expectations:
        from finirace.commands.expect import present

        return present(args, scenarios, verdicts, known)
    threads_of = {sc.name: sc.thread_names for sc in scenarios}
    refs = {sc.name: _ref(sc, args.scenarios, files) for sc in scenarios}
    strict = getattr(args, "strict", False)
    _present(args, verdicts, names, threads_of, refs, strict, jobs)
    return 1 if any(v.fails(strict) for v in verdicts) else 0


def _check_one(check, sc, var, strategy, progress):
    """One verdict; a variant file's own step code that raises is its file's error (one line, exit 2)."""
    if isinstance(var, str):
        return check(sc, var, strategy=strategy, progress=progress)
    try:
        return check(sc, var, strategy=strategy, progress=progress)
    except Exception as exc:  # the user's code ran inside the search
        text = str(exc).splitlines()[0] if str(exc) else ""
        raise UsageError(f"{var.source}: variant {var.name!r} failed while exploring {sc.name}: "
                         f"{type(exc).__name__}" + (f": {text}" if text else "")) from None


def _ref(sc, given: list[str], files=()) -> str:
    """How to name a scenario again on a command line: as the user did, or by its bundled name;
    with the variant files given (a replay of their variants needs them)."""
    import shlex

    name = sc.name
    for ref in given:
        if sc.path and ref == sc.path:
            name = ref
    return name + "".join(f" --variant-file {shlex.quote(f)}" for f in files)


def _present(args, verdicts, variants, threads_of, refs, strict: bool = False, jobs: int = 1) -> None:
    from textwrap import fill

    from finirace.report import check as report

    if args.junit:
        from finirace.report.junit import write

        try:
            write(args.junit, "finirace check", report.junit_cases(verdicts, threads_of, refs, strict))
        except OSError as exc:
            raise UsageError(f"--junit {args.junit}: cannot write: {exc.strerror or exc}") from None
    if args.html:
        _write_html(args.html, verdicts, variants, threads_of, refs, strict)
    if args.json:
        json.dump(report.to_json(verdicts, strict), sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    out = sys.stdout
    from finirace.report.console import console

    screen = console(highlight=False)
    for table in report.tables(verdicts, variants, screen.width, strict):
        screen.print(table)
    for v in verdicts:
        if v.matches is False or args.verbose:
            for cx in v.counterexamples:
                if args.verbose or not any(_fits(e, cx.outcome.label) for e in v.expected or ()):
                    out.write("\n" + "\n".join(report.counterexample_lines(v, cx, threads_of[v.scenario], refs[v.scenario],
                                                                            screen.width)) + "\n")
            if v.matches is False:
                warn = not v.fails(strict)
                for e in v.unreached:
                    why = "" if v.complete else f" by this search ({v.strategy}: not every run was tried)"
                    head = "warning: " if warn else ""
                    tail = " (--strict makes it a failure)" if warn else ""
                    out.write("\n" + fill(f"{head}{v.scenario} under {v.variant}: expected {e!r}, never reached{why}{tail}",
                                          screen.width) + "\n")
    bad = sum(1 for v in verdicts if v.fails(strict))
    warned = sum(1 for v in verdicts if v.matches is False and not v.fails(strict))
    total = sum(v.states for v in verdicts)
    secs = sum(v.seconds for v in verdicts)
    note = f", {warned} with expected outcomes this search did not reach (warnings)" if warned else ""
    n = len(verdicts)
    # wrapped to the terminal's (or $COLUMNS') width, as the tables are: a pipe keeps every line
    out.write("\n" + fill(f"{n} verdict{'' if n == 1 else 's'}, {bad} differ{'s' if bad == 1 else ''} from "
                          f"expectations{note}; {total} states in {secs:.2f} s"
                          + (f" of search, {jobs} at once" if jobs > 1 else ""), screen.width) + "\n")


def _fits(expected: str, label: str) -> bool:
    from finirace.outcome import label_matches

    return label_matches(expected, label)


def _progress_line(where: str):
    """A long search's progress on the terminal: which verdict of how many, and how far it is
    (a four-worker search runs for tens of seconds)."""
    def show(p) -> None:
        sys.stderr.write(f"\r\x1b[Kexploring {where}: {p.states:,} states, {p.transitions:,} transitions, "
                         f"{p.outcomes} outcomes so far")
        sys.stderr.flush()

    return show


def _done_line(jobs: int):
    """Progress of searches run side by side: how many verdicts are in (each search's own
    progress stays in its process)."""
    def show(finished: int, total: int) -> None:
        sys.stderr.write(f"\r\x1b[Kchecked {finished}/{total} scenario × variant, {jobs} searches at once")
        sys.stderr.flush()

    return show


def _replay(args, scenarios, variants) -> int:
    from finirace.explore import Replay, check
    from finirace.report import check as report

    if len(scenarios) != 1 or len(variants) != 1:
        raise UsageError("--replay needs exactly one SCENARIO and one --variant (a schedule fits one of each)")
    sc, var = scenarios[0], variants[0]
    v = check(sc, var, strategy=Replay(args.replay))
    if args.html:
        _write_html(args.html, [v], [v.variant], {sc.name: sc.thread_names},
                    {sc.name: _ref(sc, args.scenarios, getattr(args, "variant_file", None) or ())})
    if args.json:
        json.dump(report.to_json([v]), sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        from finirace.report.console import fit_width

        sys.stdout.write("\n".join(report.counterexample_lines(v, v.counterexamples[0], sc.thread_names,
                                                              _ref(sc, args.scenarios, getattr(args, "variant_file", None) or ()),
                                                              fit_width())) + "\n")
    return 0


def _write_html(path: str, verdicts, variants, threads_of, refs, strict: bool = False) -> None:
    from finirace.report import check_html, page

    try:
        page.write(path, check_html.document(verdicts, variants, threads_of, refs, strict))
    except OSError as exc:
        raise UsageError(f"--html {path}: cannot write: {exc.strerror or exc}") from None
