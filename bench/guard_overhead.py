"""What the exit guard costs a program that exits with no daemon thread, side by side in one run.

Two programs, each run N times, interleaved (so load changes hit both):
the baseline, and the same program with ``finirace.guard.install()`` as its
first line.  Both put finirace's source on ``sys.path`` the same way, so the
difference is the guard alone: importing it, its ``atexit`` handler, and
at exit the look at ``threading`` (imported by the second pair of programs,
which also start and join one non-daemon thread, so the handler has
threads to enumerate).  Target: guarded / baseline <= 1.05 for each pair.

Usage: python bench/guard_overhead.py [--python PATH] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
PATH_LINE = f"import sys; sys.path.insert(0, {SRC!r})\n"
GUARD_LINE = "import finirace.guard; finirace.guard.install()\n"
PROGRAMS = {
    "exits at once": "x = sum(range(1000))\n",
    "one non-daemon thread": "import threading\nt = threading.Thread(target=sum, args=(range(1000),))\nt.start(); t.join()\n",
}


def _time(python: str, script: Path) -> float:
    start = time.perf_counter()
    subprocess.run([python, str(script)], check=True)
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--runs", type=int, default=200)
    args = p.parse_args()
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="finirace-bench-guard-") as tmp:
        print(f"{os.path.basename(args.python)}, {args.runs} runs of each, interleaved; median wall time per run")
        for name, body in PROGRAMS.items():
            bare, guarded = Path(tmp) / "bare.py", Path(tmp) / "guarded.py"
            bare.write_text(PATH_LINE + body)
            guarded.write_text(PATH_LINE + GUARD_LINE + body)
            times: dict[Path, list[float]] = {bare: [], guarded: []}
            for _ in range(3):  # warm the page cache and the .pyc files
                _time(args.python, bare), _time(args.python, guarded)
            for i in range(args.runs):
                for script in (bare, guarded) if i % 2 else (guarded, bare):
                    times[script].append(_time(args.python, script))
            b, g = statistics.median(times[bare]), statistics.median(times[guarded])
            ratio = g / b
            worst = max(worst, ratio)
            print(f"  {name:24} baseline {b * 1000:6.2f} ms   guarded {g * 1000:6.2f} ms   ratio {ratio:.3f}")
    print(f"worst ratio {worst:.3f} (target <= 1.05): {'met' if worst <= 1.05 else 'NOT met'}")
    return 0 if worst <= 1.05 else 1


if __name__ == "__main__":
    sys.exit(main())
