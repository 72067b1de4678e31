"""finirace stress overhead: 200 runs of a trivial command against the ideal.

Ideal = runs × bare fork/exec time / cores, measured in this same run.
Targets: ≥ 90% parallel efficiency on 2 cores, < 10 ms overhead per run.
Usage: python bench/stress_overhead.py [--runs 200] [--cmd true]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--cmd", default="true", help="the trivial command (one word, or a quoted command line)")
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    start = time.perf_counter()
    cmd = shlex.split(a.cmd)
    for _ in range(a.runs):
        subprocess.run(cmd, check=False)
    bare = (time.perf_counter() - start) / a.runs
    ideal = a.runs * bare / cores
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FINIRACE_DB": os.path.join(tmp, "b.db")}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "finirace", "stress", "--runs", str(a.runs), "--perturb", "none",
                        "--campaign", "bench", "--", *cmd], env=env, stdout=subprocess.DEVNULL, check=False)
        wall = time.perf_counter() - start
    print(f"bare fork/exec {bare * 1000:.2f} ms; ideal {ideal:.2f}s on {cores} cores; finirace {wall:.2f}s")
    print(f"parallel efficiency {ideal / wall:.1%}; overhead per run {(wall - ideal) / a.runs * 1000:.2f} ms")


if __name__ == "__main__":
    main()
