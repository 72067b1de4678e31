"""finirace stress overhead: 200 runs of a trivial command against the ideal.

Ideal = runs × bare fork/exec time / cores, measured in this same run
(sequentially, with ``subprocess.run``).  Targets: ≥ 90% parallel efficiency
on 2 cores, < 10 ms overhead per run.  Two trivial commands by default:
``true`` (a fork/exec of well under 1 ms: finirace's own start-up alone, a
Python interpreter, is longer than the whole ideal) and ``python -c pass``
(this interpreter, not a pyenv shim script).  Perturbation is off (``--perturb
none``); the shim is still preloaded for crash backtraces, as in every plain run.
Also printed: finirace's own start-up (``finirace stress --help``).
Usage: python bench/stress_overhead.py [--runs 200] [--cmd 'true' --cmd 'python3 -c pass']
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time


def startup() -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "finirace", "stress", "--help"], stdout=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def measure(cmd: list[str], runs: int, cores: int) -> None:
    start = time.perf_counter()
    for _ in range(runs):
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bare = (time.perf_counter() - start) / runs
    ideal = runs * bare / cores
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FINIRACE_DB": os.path.join(tmp, "b.db")}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "finirace", "stress", "--runs", str(runs), "--perturb", "none",
                        "--campaign", "bench", "--", *cmd], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        wall = time.perf_counter() - start
    print(f"{shlex.join(cmd)}: bare fork/exec {bare * 1000:.2f} ms; ideal {ideal:.2f}s on {cores} cores; "
          f"finirace {wall:.2f}s")
    print(f"  parallel efficiency {ideal / wall:.1%}; overhead per run {(wall - ideal) / runs * 1000:.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--cmd", action="append", help="a trivial command line (repeatable)")
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    cmds = a.cmd or ["true", f"{shlex.quote(sys.executable)} -c pass"]
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {cores} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"finirace start-up (stress --help, best of 5): {startup() * 1000:.0f} ms")
    for c in cmds:
        measure(shlex.split(c), a.runs, cores)


if __name__ == "__main__":
    main()
