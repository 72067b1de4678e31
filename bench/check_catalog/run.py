"""Benchmark: the exhaustive search under each reduction, side by side, in one run.

Reductions: ``none`` (state caching only, the baseline), ``sleep`` (caching +
sleep sets), ``symmetry`` (the default: the cheapest-run pass over symmetric
keys where threads are alike, persistent sets past 40 000 keys, else sleep
sets), ``persistent`` (symmetric keys and persistent sets; plain keys where
nothing is alike) and ``dpor`` (stateless source-set DPOR + sleep sets).  Exploration only (no minimization), so the numbers are the
searches' own; each outcome set is checked to be the same under every
reduction.

1. the whole bundled catalog x every model variant: total states, transitions
   and seconds of each; stateless
   DPOR is stopped on a cell bigger than ``DPOR_WHOLE`` states (its runs grow
   far faster than the states there: the three-worker ``helper-timeout``);
   then the default alone over the whole catalog, as ``finirace check`` runs it,
   in a fresh child process (the fastest of three; target: under 0.3 s of
   search), beside ``none`` (caching alone) in the same run, and the ratio;
   then the search loop's floor (``floor.py``: the same search over the
   catalog's graphs precomputed, beside the search on the model);
2. ``finirace check`` end to end on the 3- and 4-worker seed-shaped scenarios
   under every era, each in a child process, CPU and wall seconds and peak
   memory (targets <= 3 s and <= 30 s of CPU; run before the rows below grow
   this process, since a child's peak memory counts what it was forked from);
3. seed-shaped scenarios: ``seed`` with 2-4 alike workers (each signals its own
   event, ``main`` waits for each in turn, then finalizes), default and
   persistent sets against sleep sets, each search in a child process of its own so its peak memory
   is its own (targets: 3 workers <= 3 s and <= 150 MB, 4 workers <= 30 s);
4. identical workers doing ensure/save/block/restore/release, as before, with
   DPOR on two;
5. minimization on seed-shaped scenarios: the former minimizer (Dijkstra over
   the unreduced graph, ``minimize.dijkstra``, budget 200 000 nodes) against
   the cheapest-run tables over the symmetry-reduced graph, both from the same
   search; the two must give every outcome the same (preemptions, steps);
6. ``finirace check seed`` end to end in a child process (target < 0.5 s); then
   ``finirace check`` on the whole catalog end to end (``end_to_end.py``), CPU
   and wall, ``-j 1`` and the default, beside row 1's search alone, and the ratio.

    python bench/check_catalog/run.py [--workers 4] [--era exit] [--baseline-4] [--skip-eras] [--skip-4]
                                   [--only-catalog] [--only-eras]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from finirace.explore import DPOR, Exhaustive
from finirace.explore.cheapest import CheapestRuns
from finirace.explore.exploration import collector_paused
from finirace.explore.minimize import DEFAULT_BUDGET, dijkstra
from finirace.model import VARIANTS, build_system
from finirace.scenario import load_bundled, loads

TARGET_CATALOG = 0.3
# The catalog when the 0.3 s target was set (main at f8967ea: 15 scenarios, two threads each
# but spawn-during-fini's three).  It has grown since (guarded and helper forms,
# sub-interpreters, the three-worker helper-timeout alone 29 000 states), so both are shown:
# the same work the target was set on, and the whole catalog of today.
CATALOG_AT_TARGET = ("clear-after", "cxx-noexcept", "daemon-at-exit", "ensure-after", "guard-held", "guard-late",
                     "hang-at-exit", "joined-before", "reinit-wake", "restore-after", "seed-guarded",
                     "seed-ordered", "seed", "spawn-during-fini", "wait-during-fini")
TARGET_SEED = 0.5
TARGET_SECONDS = {3: 3.0, 4: 30.0}
TARGET_MB = {3: 150}
TARGET_CHECK = {3: 3.0, 4: 30.0}  # finirace check on 3 and 4 workers, any single era
REDUCTIONS = ("none", "sleep", "symmetry", "persistent", "dpor")
# stateless DPOR runs whole on a catalog cell of up to this many states (``none``'s count);
# past it, only as many transitions as ``none`` made (tests/explore/test_model_reduction.py)
DPOR_WHOLE = 1000


def workers(n: int):
    names = "abcd"[:n]
    main = ["init", "save", *(f"spawn {w}" for w in names), "restore", "finalize"]
    text = f'name = "workers-{n}"\n[threads]\nmain = {_toml(main)}\n'
    for w in names:
        text += f'{w} = {_toml(["ensure", "save", "block", "restore", "release"])}\n'
    return loads(text)


def seed_shaped_text(n: int) -> str:
    """The bundled ``seed`` with ``n`` workers: each attaches, signals its own event,
    blocks with the GIL released and comes back; ``main`` waits for every signal,
    then finalizes.  The workers are alike up to renaming (w1 signals b1, w2 b2)."""
    names = [f"w{i}" for i in range(1, n + 1)]
    main = ["init", "save", *(f"spawn {w}" for w in names), *(f"wait b{i}" for i in range(1, n + 1)),
            "restore", "finalize"]
    text = f'name = "seed-{n}"\n[threads]\nmain = {_toml(main)}\n'
    for i, w in enumerate(names, 1):
        text += f'{w} = {_toml(["ensure", "save", f"signal b{i}", "block", "restore", "release"])}\n'
    return text


def seed_shaped(n: int):
    return loads(seed_shaped_text(n))


def _toml(steps: list[str]) -> str:
    return "[" + ", ".join(f'"{s}"' for s in steps) + "]"


def run(system, reduction: str, budget: int):
    """The exploration and its CPU seconds (process time: the machine is shared, and a
    search is one thread, so CPU time is what it costs whatever else runs)."""
    strategy = DPOR(budget) if reduction == "dpor" else Exhaustive(reduction)
    t = time.process_time()
    ex = strategy.explore(system)
    return ex, time.process_time() - t


def one(n: int, era: str, reduction: str) -> None:
    """In a child: one seed-shaped search, printed as JSON with this process's peak memory."""
    ex, secs = run(build_system(seed_shaped(n), era), reduction, 0)
    print(json.dumps({"states": ex.states, "transitions": ex.transitions, "seconds": secs,
                      "labels": sorted(f.outcome.label for f in ex.found),
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def catalog_pass(reduction: str, only: tuple[str, ...] = ()) -> None:
    """In a child: one reduction over the whole catalog (or the scenarios ``only`` names) under
    every variant, as ``finirace check`` runs it (programs built as it goes), printed as JSON:
    CPU seconds of the searches."""
    states = transitions = 0
    secs = 0.0
    for sc in load_bundled():
        if only and sc.name not in only:
            continue
        for var in VARIANTS:
            ex, t = run(build_system(sc, var), reduction, 10**9)
            states += ex.states
            transitions += ex.transitions
            secs += t
    print(json.dumps({"states": states, "transitions": transitions, "seconds": secs}))


def _catalog_child(reduction: str, at_target: bool = False) -> dict:
    argv = [sys.executable, __file__, "--catalog-pass", reduction, *(["--at-target"] if at_target else [])]
    p = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def child(n: int, era: str, reduction: str, timeout: float) -> dict | None:
    argv = [sys.executable, __file__, "--one", str(n), era, reduction]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(p.stdout)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dpor-budget", type=int, default=400_000)
    ap.add_argument("--workers", type=int, default=4, help="seed-shaped scenarios up to this many workers")
    ap.add_argument("--era", action="append", help="model variants for the seed-shaped rows (default: exit)")
    ap.add_argument("--baseline-4", action="store_true", help="also run sleep sets on 4 workers (tens of minutes)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds for one seed-shaped search")
    ap.add_argument("--skip-eras", action="store_true", help="leave out finirace check on 3 and 4 workers under every era")
    ap.add_argument("--skip-4", action="store_true", help="finirace check under every era on 3 workers only")
    ap.add_argument("--only-catalog", action="store_true", help="row 1 alone")
    ap.add_argument("--only-eras", action="store_true", help="row 2 alone")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--catalog-pass", help=argparse.SUPPRESS)
    ap.add_argument("--at-target", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one(int(args.one[0]), args.one[1], args.one[2])
        return 0
    if args.catalog_pass:
        catalog_pass(args.catalog_pass, CATALOG_AT_TARGET if args.at_target else ())
        return 0
    if args.only_eras:
        eras(args.skip_4)
        return 0

    print("1. catalog x variants (exploration only)")
    tot = {r: [0, 0, 0.0] for r in REDUCTIONS}
    cut = []  # cells where DPOR was stopped (see DPOR_WHOLE)
    for sc in load_bundled():
        for var in VARIANTS:
            labels = {}
            size = None
            for r in REDUCTIONS:  # "none" first: its size bounds DPOR
                budget = 10**9 if size is None or size[0] <= DPOR_WHOLE else size[1]
                ex, secs = run(build_system(sc, var), r, budget)
                size = size or (ex.states, ex.transitions)
                labels[r] = {f.outcome.label for f in ex.found}
                tot[r][0] += ex.states
                tot[r][1] += ex.transitions
                tot[r][2] += secs
                if not ex.complete:
                    cut.append(f"{sc.name}/{var}")
            whole = {r: frozenset(v) for r, v in labels.items() if r != "dpor" or f"{sc.name}/{var}" not in cut}
            if len(set(whole.values())) != 1 or not labels["dpor"] <= labels["none"]:
                print(f"!! {sc.name} {var}: the reductions disagree: {labels}")
                return 1
    _table([("catalog", tot)])
    if cut:
        print(f"dpor stopped at the cached search's transitions on {len(cut)} cells of more than "
              f"{DPOR_WHOLE} states (its outcomes there a subset): {', '.join(cut)}")
    alone = {r: min((_catalog_child(r) for _ in range(3)), key=lambda c: c["seconds"]) for r in ("none", "symmetry")}
    base, ours = alone["none"], alone["symmetry"]
    print(f"each alone in a fresh process, the whole catalog (fastest of 3): none {base['states']} states "
          f"{base['seconds']:.2f} s; default {ours['states']} states {ours['seconds']:.2f} s of CPU "
          f"({ours['states'] / ours['seconds']:,.0f} states/s); none/default {base['seconds'] / ours['seconds']:.2f}")
    cat = ours["seconds"]
    print(f"catalog search with the default: {cat:.2f} s of CPU "
          f"(target <= {TARGET_CATALOG} s: {'met' if cat <= TARGET_CATALOG else 'NOT met'})", flush=True)
    then = {r: min((_catalog_child(r, True) for _ in range(3)), key=lambda c: c["seconds"]) for r in ("none", "symmetry")}
    old = then["symmetry"]["seconds"]
    print(f"the catalog the target was set on ({len(CATALOG_AT_TARGET)} scenarios, every era of today), fastest of 3: "
          f"none {then['none']['states']} states {then['none']['seconds']:.2f} s; default {then['symmetry']['states']} "
          f"states {old:.2f} s of CPU; none/default {then['none']['seconds'] / old:.2f} "
          f"(target <= {TARGET_CATALOG} s: {'met' if old <= TARGET_CATALOG else 'NOT met'})", flush=True)
    here = Path(__file__).parent
    got = subprocess.run([sys.executable, str(here / "floor.py")], capture_output=True, text=True, check=True)
    sys.path.insert(0, str(here))
    from floor import line  # beside this file, run in a child of its own above: a clean process
    print(line(json.loads(got.stdout), TARGET_CATALOG), flush=True)
    if args.only_catalog:
        return 0

    if not args.skip_eras:
        eras(args.skip_4)

    print("\n3. seed-shaped: N alike workers (each in a child process; peak memory is the search's own)")
    print(f"{'':<22}{'default states':>15}{'CPU s':>8}{'MB':>7}{'persistent':>15}{'CPU s':>8}{'MB':>7}"
          f"{'sleep states':>15}{'CPU s':>8}{'MB':>7}{'sleep/default s':>16}   targets")
    for era in args.era or ["exit"]:
        for n in range(2, args.workers + 1):
            d = child(n, era, "symmetry", args.timeout)
            p = child(n, era, "persistent", args.timeout)
            s = child(n, era, "sleep", args.timeout) if n < 4 or args.baseline_4 else None
            if len({tuple(r["labels"]) for r in (d, p, s) if r}) > 1:
                print(f"!! seed-{n} {era}: the default, persistent sets and sleep sets disagree")
                return 1
            cells = _cells(d) + _cells(p) + _cells(s)
            ratio = f"{s['seconds'] / d['seconds']:.1f}" if d and s else "-"
            target = ""
            if n in TARGET_SECONDS and d:
                target = f"<= {TARGET_SECONDS[n]:.0f} s: {'met' if d['seconds'] <= TARGET_SECONDS[n] else 'NOT met'}"
            if n in TARGET_MB and d:
                target += f"; <= {TARGET_MB[n]} MB: {'met' if d['peak_mb'] <= TARGET_MB[n] else 'NOT met'}"
            print(f"{f'seed-{n} {era}':<22}{cells}{ratio:>16}   {target}", flush=True)

    print("\n4. identical workers: ensure/save/block/restore/release, main finalizes")
    for var in ("prefix", "wrapper"):
        row = {}
        for r in REDUCTIONS:
            ex, secs = run(build_system(workers(2), var), r, args.dpor_budget)
            row[r] = [ex.states, ex.transitions, secs] if ex.complete else None
        _table([(f"2 workers {var}", row)], header=var == "prefix")

    print("\n5. minimization: Dijkstra over the unreduced graph (the former minimizer) against the cheapest-run "
          "tables over the reduced graph")
    print(f"{'':<22}{'Dijkstra CPU s':>15}{'nodes':>9}{'tables CPU s':>14}{'keys':>8}{'Dijkstra/tables':>17}   same costs")
    for n in (2, 3):
        system = build_system(seed_shaped(n), "exit")
        found = Exhaustive("sleep").explore(system).found
        with collector_paused():
            t = time.process_time()
            old = dijkstra(system, found, DEFAULT_BUDGET)
            t_old = time.process_time() - t
            t = time.process_time()
            runs = CheapestRuns(system).search()
            labels = runs.labels()
            new = [runs.cheapest(labels[f.outcome.label]) for f in found]
            t_new = time.process_time() - t
        same = {f.outcome.label: (f.preemptions, len(f.choices)) for f in old} == \
            {f.outcome.label: (f.preemptions, len(f.choices)) for f in new}
        print(f"{f'seed-{n} exit':<22}{t_old:>15.2f}{'<= ' + str(DEFAULT_BUDGET // 1000) + 'k':>9}{t_new:>14.2f}"
              f"{runs.rec.states:>8}{t_old / t_new:>17.1f}   {'yes' if same else 'NO'}", flush=True)
        if not same:
            return 1

    best = min(_seed_once() for _ in range(5))
    print(f"\ncatalog search with the default: {cat:.2f} s of CPU "
          f"(target <= {TARGET_CATALOG} s: {'met' if cat <= TARGET_CATALOG else 'NOT met'})")
    print(f"finirace check seed end to end: {best:.3f} s (target < {TARGET_SEED} s)")
    from end_to_end import line as whole  # beside this file (sys.path above)
    print(whole(cat), flush=True)
    return 0


def eras(skip_4: bool) -> None:
    """Row 2: ``finirace check`` end to end on 3 and 4 seed-shaped workers under every era."""
    for n in (3,) if skip_4 else (3, 4):
        target = TARGET_CHECK[n]
        print(f"\n2. finirace check on seed-{n} end to end, each era (child process; target <= {target:.0f} s)")
        print(f"{'':<12}{'CPU s':>7}{'wall s':>8}{'peak MB':>9}{'states':>9}{'outcomes':>10}   strategy")
        with tempfile.TemporaryDirectory(prefix="finirace-seed-") as tmp:
            path = Path(tmp) / f"seed-{n}.toml"
            path.write_text(seed_shaped_text(n))
            worst, over = 0.0, []
            for era in VARIANTS:
                r = _check_once(str(path), era)
                worst = max(worst, r["cpu"])
                if r["cpu"] > target:
                    over.append(era)
                print(f"{era:<12}{r['cpu']:>7.2f}{r['wall']:>8.2f}{r['peak_mb']:>9.0f}{r['states']:>9}"
                      f"{r['outcomes']:>10}   {r['strategy']}", flush=True)
        print(f"worst era: {worst:.2f} s of CPU (target <= {target:.0f} s: "
              f"{'met' if worst <= target else 'NOT met under ' + ', '.join(over)})")


def _cells(r: dict | None) -> str:
    if r is None:
        return f"{'(not run)':>15}{'':>8}{'':>7}"
    return f"{r['states']:>15}{r['seconds']:>8.2f}{r['peak_mb']:>7.0f}"


def _table(rows, header=True) -> None:
    if header:
        print(f"{'':<20}" + "".join(f"{r + ' states':>19}{r + ' trans':>18}{r + ' CPU s':>18}" for r in REDUCTIONS))
    for name, row in rows:
        cells = ""
        for r in REDUCTIONS:
            v = row[r]
            cells += f"{'-':>19}{'-':>18}{'-':>18}" if v is None else f"{v[0]:>19}{v[1]:>18}{v[2]:>18.2f}"
        print(f"{name:<20}{cells}")


def _check_once(path: str, era: str) -> dict:
    """``finirace check FILE --variant ERA --json`` in a child: CPU and wall seconds, peak memory."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "finirace", "check", path, "--variant", era, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)
    proc.stdout.close()
    (res,) = json.loads(out)["results"]
    return {"cpu": usage.ru_utime + usage.ru_stime, "wall": time.perf_counter() - start,
            "peak_mb": usage.ru_maxrss / 1024, "states": res["states"], "outcomes": len(res["outcomes"]),
            "strategy": res["strategy"]}


def _seed_once() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "finirace", "check", "seed"], stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


if __name__ == "__main__":
    raise SystemExit(main())
