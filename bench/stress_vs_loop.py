"""Crashes found per minute: finirace stress (perturbation on) against a naive loop of two workers.

The target is CATALOG.md's daemon-at-exit case: daemon threads looping in
GIL-releasing C calls (zlib, hashlib, bz2) while the main thread exits, on
3.10.13.  Both sides get the same fixed time in this one run; finirace runs
with its default settings (perturbation ``python``, one job per core).
Target: at least 10x the naive loop's crashes per minute, all in one bucket.
Usage: python bench/stress_vs_loop.py [--minutes 2] [--python /root/.pyenv/versions/3.10.13/bin/python3.10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from finirace.stress.examples import DAEMON_AT_EXIT

TARGET = DAEMON_AT_EXIT


def naive(python: str, script: str, seconds: float) -> tuple[int, int]:
    crashes = runs = 0
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def worker() -> None:
        nonlocal crashes, runs
        while time.monotonic() < end:
            r = subprocess.run([python, script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with lock:
                runs += 1
                crashes += r.returncode < 0
    ts = [threading.Thread(target=worker) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return crashes, runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--python", default="/root/.pyenv/versions/3.10.13/bin/python3.10")
    ap.add_argument("--perturb", default="python", help="finirace's default perturbation unless told")
    a = ap.parse_args()
    seconds = a.minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "target.py")
        with open(script, "w") as f:
            f.write(TARGET)
        base_crashes, base_runs = naive(a.python, script, seconds)
        env = {**os.environ, "FINIRACE_DB": os.path.join(tmp, "b.db")}
        subprocess.run([sys.executable, "-m", "finirace", "stress", "--time", str(seconds), "--perturb", a.perturb,
                        "--campaign", "bench", "--", a.python, script], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        data = json.loads(subprocess.run([sys.executable, "-m", "finirace", "report", "bench", "--json"], env=env,
                                         capture_output=True, text=True).stdout)
    crash_buckets = [b for b in data["buckets"] if b["kind"] == "crash"]
    crashes = sum(b["count"] for b in crash_buckets)
    per_min = lambda n: n / a.minutes  # noqa: E731
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {a.python}, {seconds:.0f} s each side, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"naive loop: {base_crashes} crashes in {base_runs} runs ({per_min(base_crashes):.2f}/min)")
    print(f"finirace:   {crashes} crashes in {data['runs']} runs ({per_min(crashes):.2f}/min), "
          f"{len([b for b in data['buckets'] if b['kind'] == 'crash'])} crash bucket(s)")
    for b in crash_buckets:
        print(f"  {b['count']:5d}  {b['signature']}")
    if base_crashes:
        print(f"ratio: {crashes / base_crashes:.1f}x")
    else:
        # none seen: 3 is the 95% upper bound of a Poisson count whose sample was 0 (rule of three)
        print(f"ratio: naive loop found no crash; at least {crashes / 3:.0f}x against its 95% upper bound of 3")


if __name__ == "__main__":
    main()
