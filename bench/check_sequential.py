"""A long sequential scenario: what ``finirace check`` spends beside the search, side by side in one run.

A scenario of N steps in one thread has about 2N states and one interleaving,
so its search is quick; what else the command does must not grow faster than
the search.  Reading a file once rescanned the text up to each step to find its
line (quadratic: 2,000 steps took 5 s to read for a 0.4 s search).  This runs
the phases in process (parse, search, minimization, replay of the
counterexample) and the whole command as a fresh process, best of N, and prints
each phase and the ratio of the whole command to its search.
Target: parse <= search.  Usage: python bench/check_sequential.py [--steps 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def scenario(steps: int) -> str:
    body = ["init"] + ['python "x = 1"', "save", "restore"] * ((steps - 2) // 3) + ["finalize"]
    return 'name = "sequential"\n[threads]\nmain = ' + json.dumps(body) + "\n"


def phases(path: str) -> dict[str, float]:
    from finirace.explore import Exhaustive
    from finirace.explore.minimize import minimize
    from finirace.explore.replay import run_choices
    from finirace.model import build_system
    from finirace.scenario import load

    out = {}
    t = time.perf_counter()
    sc = load(path)
    out["parse"] = time.perf_counter() - t
    t = time.perf_counter()
    system = build_system(sc, "exit")
    found = Exhaustive().explore(system, None).found
    out["search"] = time.perf_counter() - t
    t = time.perf_counter()
    found = minimize(system, found)
    out["minimize"] = time.perf_counter() - t
    t = time.perf_counter()
    for f in found:
        run_choices(system, f.choices)
    out["replay"] = time.perf_counter() - t
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sequential.toml")
        with open(path, "w") as f:
            f.write(scenario(a.steps))
        best: dict[str, float] = {}
        whole = []
        for _ in range(a.runs):
            for k, v in phases(path).items():
                best[k] = min(best.get(k, v), v)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "finirace", "check", path, "--variant", "exit"], check=True,
                           stdout=subprocess.DEVNULL)
            whole.append(time.perf_counter() - t)
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {sys.executable}, {a.steps} sequential steps, best of {a.runs}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for k, v in best.items():
        print(f"{k + ':':10s} {v:6.2f} s")
    print(f"finirace check (whole command): {min(whole):.2f} s")
    print(f"ratio whole command / search: {min(whole) / best['search']:.1f}x; parse / search: "
          f"{best['parse'] / best['search']:.2f} (target <= 1)")
    return 0 if best["parse"] <= best["search"] else 1


if __name__ == "__main__":
    sys.exit(main())
