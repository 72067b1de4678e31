"""Benchmark: the exhaustive search under each reduction, side by side, in one run.

Reductions: ``none`` (state caching only, the baseline), ``sleep`` (caching +
sleep sets, the default) and ``dpor`` (stateless source-set DPOR + sleep sets).
Exploration only (no minimization), so the numbers are the searches' own.

1. the whole bundled catalog x every model variant: total states, transitions
   and seconds of each, and the ratios to the baseline;
2. bigger scenarios: 2-4 identical workers doing ensure/save/block/restore/
   release against a main that finalizes, under the ``prefix`` and ``wrapper``
   variants.  DPOR gets a budget of transitions (it is stateless and can take
   far longer); past it the row says so;
3. ``finirace check seed`` end to end in a child process (target < 0.5 s).

    python bench/check_catalog/run.py [--dpor-budget N] [--workers 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from finirace.explore import DPOR, Exhaustive
from finirace.model import VARIANTS, build_system
from finirace.scenario import load_bundled, loads

TARGET_CATALOG = 1.0
TARGET_SEED = 0.5
REDUCTIONS = ("none", "sleep", "dpor")


def workers(n: int):
    names = "abcd"[:n]
    main = ["init", "save", *(f"spawn {w}" for w in names), "restore", "finalize"]
    text = f'name = "workers-{n}"\n[threads]\nmain = [{", ".join(repr(s).replace(chr(39), chr(34)) for s in main)}]\n'
    for w in names:
        text += f'{w} = ["ensure", "save", "block", "restore", "release"]\n'
    return loads(text)


def seed_shaped(n: int):
    """The bundled ``seed`` with ``n`` workers: each attaches, signals its own event,
    blocks with the GIL released and comes back; ``main`` waits for every signal,
    then finalizes.  The workers are alike up to renaming (w1 signals b1, w2 b2)."""
    names = [f"w{i}" for i in range(1, n + 1)]
    main = ["init", "save", *(f"spawn {w}" for w in names), *(f"wait b{i}" for i in range(1, n + 1)),
            "restore", "finalize"]
    text = f'name = "seed-{n}"\n[threads]\nmain = {_toml(main)}\n'
    for i, w in enumerate(names, 1):
        text += f'{w} = {_toml(["ensure", "save", f"signal b{i}", "block", "restore", "release"])}\n'
    return loads(text)


def _toml(steps: list[str]) -> str:
    return "[" + ", ".join(f'"{s}"' for s in steps) + "]"


def run(system, reduction: str, budget: int):
    strategy = DPOR(budget) if reduction == "dpor" else Exhaustive(reduction)
    t = time.perf_counter()
    ex = strategy.explore(system)
    return ex, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dpor-budget", type=int, default=400_000)
    ap.add_argument("--workers", type=int, default=3, help="up to this many workers (4: about 12 minutes more)")
    args = ap.parse_args()

    print("1. catalog x variants (exploration only)")
    tot = {r: [0, 0, 0.0] for r in REDUCTIONS}
    for sc in load_bundled():
        for var in VARIANTS:
            labels = {}
            for r in REDUCTIONS:
                ex, secs = run(build_system(sc, var), r, 10**9)
                labels[r] = {f.outcome.label for f in ex.found}
                tot[r][0] += ex.states
                tot[r][1] += ex.transitions
                tot[r][2] += secs
            if len({frozenset(v) for v in labels.values()}) != 1:
                print(f"!! {sc.name} {var}: the reductions disagree: {labels}")
                return 1
    _table([("catalog", tot)])

    print("\n2. identical workers: ensure/save/block/restore/release, main finalizes")
    rows = []
    for n in range(2, args.workers + 1):
        for var in ("prefix", "wrapper"):
            row = {}
            base_labels = None
            for r in REDUCTIONS:
                if r == "dpor" and n > 2:
                    row[r] = None  # stateless: hours; see docs/check.md
                    continue
                ex, secs = run(build_system(workers(n), var), r, args.dpor_budget)
                if not ex.complete:
                    row[r] = None
                    continue
                got = {f.outcome.label for f in ex.found}
                if base_labels is not None and got != base_labels:
                    print(f"!! workers-{n} {var} {r}: outcomes differ")
                    return 1
                base_labels = base_labels or got
                row[r] = [ex.states, ex.transitions, secs]
            rows.append((f"{n} workers {var}", row))
            _table([rows[-1]], header=len(rows) == 1)

    best = min(_seed_once() for _ in range(5))
    cat = tot["sleep"][2]
    print(f"\ncatalog search with the default (sleep): {cat:.2f} s (target < {TARGET_CATALOG:.0f} s)")
    print(f"finirace check seed end to end: {best:.3f} s (target < {TARGET_SEED} s)")
    return 0


def _table(rows, header=True) -> None:
    if header:
        print(f"{'':<20}" + "".join(f"{r + ' states':>14}{r + ' trans':>13}{r + ' s':>9}" for r in REDUCTIONS)
              + f"{'sleep/none s':>13}{'dpor/none s':>12}{'dpor/sleep trans':>17}")
    for name, row in rows:
        cells = ""
        for r in REDUCTIONS:
            v = row[r]
            cells += f"{'-':>14}{'-':>13}{'-':>9}" if v is None else f"{v[0]:>14}{v[1]:>13}{v[2]:>9.2f}"
        none, sleep, dpor = row["none"], row["sleep"], row["dpor"]
        r1 = f"{sleep[2] / max(none[2], 1e-9):.2f}" if sleep and none else "-"
        r2 = f"{dpor[2] / max(none[2], 1e-9):.2f}" if dpor and none else "over budget"
        r3 = f"{dpor[1] / max(sleep[1], 1):.1f}" if dpor and sleep else "-"
        print(f"{name:<20}{cells}{r1:>13}{r2:>12}{r3:>17}")


def _seed_once() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "finirace", "check", "seed"], stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


if __name__ == "__main__":
    raise SystemExit(main())
