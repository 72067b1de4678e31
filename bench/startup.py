"""What ``finirace --help`` costs against ``finirace check --help``, measured side by side in one run.

``finirace --help`` lists every command, so it builds every command's parser;
``finirace check --help`` imports the check command alone.  Command modules
import their heavy parts (rich, the store, the lab, the model) inside ``run``,
so listing them costs little more than one.  Both command lines run as fresh
processes, interleaved so that load changes hit both alike; the best of N is
compared (the least disturbed run).  Target: ratio <= 2.0.
Usage: python bench/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

LINES = {"finirace --help": ["--help"], "finirace check --help": ["check", "--help"]}


def once(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "finirace", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    # the interpreter's own start-up, the floor under both
    bare = min(_time_bare() for _ in range(a.runs))
    times: dict[str, list[float]] = {name: [] for name in LINES}
    for _ in range(a.runs):
        for name, args in LINES.items():
            times[name].append(once(args))
    best = {name: min(ts) for name, ts in times.items()}
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {sys.executable}, best of {a.runs}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"python -c pass:        {bare * 1000:6.1f} ms")
    for name, t in best.items():
        print(f"{name + ':':22s} {t * 1000:6.1f} ms")
    ratio = best["finirace --help"] / best["finirace check --help"]
    print(f"ratio: {ratio:.2f}x (target <= 2.0)")
    return 0 if ratio <= 2.0 else 1


def _time_bare() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t


if __name__ == "__main__":
    sys.exit(main())
