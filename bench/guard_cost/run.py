"""The guard helper's cost: finirace_guard.h against the CPython calls it replaces.

For each interpreter (default: every installed 3.8-3.13), one program measures in
one process, alternating rounds and keeping each side's best:
  * a foreign thread's attach+detach: PyGILState_Ensure/Release against
    FiniRace_EnsureFromView/FiniRace_Release (guard included);
  * a guard acquire+release (FiniRaceGuard_FromView + Close) against the same
    PyGILState pair;
  * Py_BEGIN/END_ALLOW_THREADS against FiniRace_BeginAllowThreads/EndAllowThreads.
Target: every ratio at most 1.2x.
Usage: python bench/guard_cost/run.py [--python PATH ...] [--rounds 60] [--iters 5000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from finirace.guard.header import include_dir
from finirace.lab.interpreters import probe

HERE = Path(__file__).resolve().parent
DEFAULT = [f"/root/.pyenv/versions/{v}/bin/python{v.rsplit('.', 1)[0]}"
           for v in ("3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0")]


def measure(python: str, rounds: int, iters: int, tmp: str) -> list[float]:
    interp = probe(python)
    binary = os.path.join(tmp, f"cost-{interp.label}")
    subprocess.run(["gcc", "-O2", f"-I{include_dir()}", str(HERE / "guard_cost.c"), "-o", binary,
                    *interp.cflags, "-O2", *interp.ldflags, "-lpthread"], check=True)
    out = subprocess.run([binary, str(rounds), str(iters)], capture_output=True, text=True, check=True,
                         env=interp.run_env()).stdout
    return [float(x) for x in out.split()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", action="append", help="interpreter (repeatable); default: 3.8-3.13 of pyenv")
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--iters", type=int, default=5000)
    a = ap.parse_args()
    pythons = a.python or [p for p in DEFAULT if os.path.exists(p)]
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          "ns per pair, best of each side's rounds")
    print(f"{'python':8} {'PyGILState':>10} {'attach':>8} {'ratio':>6} {'guard':>7} {'ratio':>6} "
          f"{'Py_ALLOW':>9} {'FiniRace':>9} {'ratio':>6}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for python in pythons:
            g, att, grd, plain, guarded = measure(python, a.rounds, a.iters, tmp)
            ratios = (att / g, grd / g, guarded / plain)
            worst = max(worst, *ratios)
            print(f"{probe(python).label:8} {g:10.1f} {att:8.1f} {ratios[0]:5.2f}x {grd:7.1f} {ratios[1]:5.2f}x "
                  f"{plain:9.1f} {guarded:9.1f} {ratios[2]:5.2f}x")
    print(f"worst ratio: {worst:.2f}x (target <= 1.2x): {'met' if worst <= 1.2 else 'NOT met'}")
    return 0 if worst <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
