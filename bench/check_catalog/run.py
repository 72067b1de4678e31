"""Benchmark: the whole bundled catalog × every model variant, in one run.

Baseline: the exhaustive search with state caching only (no sleep sets).
finirace: the default search (state caching + sleep sets) and minimization,
as ``finirace check`` runs it.  Prints, per scenario × variant and in total,
states, transitions and seconds of each, the ratio, and the total against the
target (the whole catalog under 10 s).  Also times ``finirace check seed`` end
to end in a child process (target: well under 0.5 s).

    python bench/check_catalog/run.py
"""

from __future__ import annotations

import subprocess
import sys
import time

from finirace.explore import Exhaustive, check
from finirace.model import VARIANTS
from finirace.scenario import load_bundled

TARGET_CATALOG = 10.0
TARGET_SEED = 0.5


def main() -> int:
    scenarios = load_bundled()
    totals = {"base": [0, 0, 0.0], "fini": [0, 0, 0.0]}
    print(f"{'scenario':<22} {'variant':<9} {'base states':>11} {'base trans':>10} {'base s':>8} {'trans':>8} {'s':>8} {'ratio':>6}")
    for sc in scenarios:
        for var in VARIANTS:
            t0 = time.perf_counter()
            base = check(sc, var, strategy=Exhaustive(reduction=False))
            t1 = time.perf_counter()
            fini = check(sc, var)
            t2 = time.perf_counter()
            if set(base.labels) != set(fini.labels):
                print(f"!! {sc.name} {var}: reduction changed the outcomes: {base.labels} vs {fini.labels}")
                return 1
            for key, v, secs in (("base", base, t1 - t0), ("fini", fini, t2 - t1)):
                totals[key][0] += v.states
                totals[key][1] += v.transitions
                totals[key][2] += secs
            print(
                f"{sc.name:<22} {var:<9} {base.states:>11} {base.transitions:>10} {t1 - t0:>8.3f} "
                f"{fini.transitions:>8} {t2 - t1:>8.3f} {(t2 - t1) / max(t1 - t0, 1e-9):>6.2f}"
            )
    b, f = totals["base"], totals["fini"]
    print(
        f"\ntotal: baseline {b[0]} states, {b[1]} transitions, {b[2]:.2f} s; "
        f"finirace {f[0]} states, {f[1]} transitions, {f[2]:.2f} s; "
        f"ratio {f[2] / max(b[2], 1e-9):.2f} (transitions {f[1] / max(b[1], 1):.2f})"
    )
    print(f"catalog x {len(VARIANTS)} variants: {f[2]:.2f} s (target < {TARGET_CATALOG:.0f} s)")
    best = min(_seed_once() for _ in range(5))
    bare = min(_python_once() for _ in range(5))
    print(
        f"finirace check seed end to end: {best:.3f} s (target < {TARGET_SEED} s); "
        f"bare interpreter start {bare:.3f} s, ratio {best / bare:.1f}"
    )
    return 0


def _seed_once() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "finirace", "check", "seed"], stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def _python_once() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t


if __name__ == "__main__":
    raise SystemExit(main())
