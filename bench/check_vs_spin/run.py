"""Benchmark: `finirace check` against SPIN on `seed`, and on `seed` with 3 and 4 workers, in one run.

For each variant (prefix, wrapper) it runs SPIN's whole pipeline on a hand
written Promela model of the same scenario (``spin -a``, ``gcc``, ``pan -a``)
and ``finirace check seed --variant V --json``, each as a child process, and
prints wall time of each, the ratio, full state counts, states per second and
peak memory (``ru_maxrss`` of each child, from ``os.wait4``).

The two count different things (SPIN: Promela states after its own partial
order reduction; finirace: model states of its own step granularity), so the
state counts are shown side by side, not divided.  The Promela models follow
finirace's model where it matters for the state space: the same atomic steps,
and the run over when ``main`` returns (``unless main_done``).  SPIN's assertion
count and finirace's outcomes are both printed, so a difference in what the two
find shows.

Then the same with N alike workers (``seed_prefix_workers.pml`` with ``-DN=3``
and ``-DN=4``, against the seed-shaped scenario ``bench/check_catalog`` makes:
worker ``wI`` signals ``bI``, ``main`` waits for each in turn): the end-to-end
ratio for each size.  finirace's side is ``finirace check FILE --variant
prefix --json``, whole (start-up, search with symmetry reduction,
minimization).  SPIN's own symmetry reduction is not asked for.  Run:

    python bench/check_vs_spin/run.py [--repeat N] [--workers 4] [--install]

Without ``spin`` it says so and skips SPIN; ``--install`` runs
``apt-get install -y spin`` first (as root).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = ("prefix", "wrapper")
sys.path.insert(0, str(HERE.parent / "check_catalog"))
from run import seed_shaped_text  # noqa: E402  (the same scenario generator as bench/check_catalog)


def timed(argv: list[str], cwd: str | None = None) -> tuple[float, int, str, int, float]:
    """Run a child: (seconds, exit status, stdout+stderr, peak RSS in KiB, CPU seconds).

    CPU seconds too: on a shared machine a child waits for a core, and wall time
    counts the wait."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    return (time.perf_counter() - start, proc.returncode, out.decode(errors="replace"), usage.ru_maxrss,
            usage.ru_utime + usage.ru_stime)


def spin(variant: str, workdir: str, workers: int | None = None) -> dict:
    model = HERE / (f"seed_{variant}.pml" if workers is None else f"seed_{variant}_workers.pml")
    define = [] if workers is None else [f"-DN={workers}"]
    total, peak, cpu = 0.0, 0, 0.0
    for argv in (["spin", *define, "-a", str(model)], ["gcc", "-O2", "-o", "pan", "pan.c"], ["./pan", "-a", "-c0", "-E"]):
        secs, rc, out, rss, used = timed(argv, cwd=workdir)
        total += secs
        cpu += used
        peak = max(peak, rss)
        if rc != 0 and argv[0] != "./pan":
            raise SystemExit(f"{' '.join(argv)} failed ({rc}):\n{out}")
    stored = int(re.search(r"(\d+) states, stored", out).group(1))
    matched = int(re.search(r"(\d+) states, matched", out).group(1))
    errors = int(re.search(r"errors: (\d+)", out).group(1))
    pan_secs = float(m.group(1)) if (m := re.search(r"elapsed time ([\d.e+-]+) seconds", out)) else 0.0
    return {"seconds": total, "cpu": cpu, "states": stored, "matched": matched, "errors": errors,
            "search_seconds": pan_secs, "peak_kib": peak}


def finirace(variant: str, scenario: str = "seed") -> dict:
    argv = [sys.executable, "-m", "finirace", "check", scenario, "--variant", variant, "--json"]
    secs, rc, out, rss, cpu = timed(argv)
    if rc not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({rc}):\n{out}")
    (res,) = json.loads(out)["results"]
    return {
        "seconds": secs,
        "cpu": cpu,
        "states": res["states"],
        "transitions": res["transitions"],
        "search_seconds": res["seconds"],
        "outcomes": [o["label"] for o in res["outcomes"]],
        "peak_kib": rss,
    }



def best_spin(repeat: int, variant: str, workers: int | None = None) -> dict:
    """SPIN's fastest of ``repeat`` whole pipelines, each in a fresh directory (nothing reused between them)."""
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="finirace-spin-") as tmp:
            runs.append(spin(variant, tmp, workers))
    return min(runs, key=lambda r: r["seconds"])

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each, the fastest is kept (default 3)")
    ap.add_argument("--workers", type=int, default=4, help="N-worker rows from 3 up to this many (default 4)")
    ap.add_argument("--install", action="store_true", help="apt-get install -y spin first, when it is missing")
    args = ap.parse_args()
    if args.install and not shutil.which("spin") and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "spin"], check=False,
                       stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    have_spin = shutil.which("spin") and shutil.which("gcc")
    if not have_spin:
        print("spin or gcc not found (apt-get install -y spin gcc): SPIN side skipped")
    for variant in VARIANTS:
        fr = min((finirace(variant) for _ in range(args.repeat)), key=lambda r: r["seconds"])
        print(f"seed under {variant}")
        print(
            f"  finirace check: {fr['seconds']:.3f} s end to end ({fr['search_seconds'] * 1000:.1f} ms exploring), "
            f"{fr['states']} states, {fr['transitions']} transitions, "
            f"{fr['states'] / max(fr['search_seconds'], 1e-9):,.0f} states/s, peak {fr['peak_kib'] / 1024:.1f} MiB; "
            f"outcomes: {', '.join(fr['outcomes'])}"
        )
        if not have_spin:
            continue
        sp = best_spin(args.repeat, variant)
        rate = f"{sp['states'] / sp['search_seconds']:,.0f} states/s" if sp["search_seconds"] else "search under pan's clock resolution"
        print(
            f"  SPIN (spin -a, gcc, pan -a): {sp['seconds']:.3f} s end to end, "
            f"{sp['states']} states stored, {sp['matched']} matched, {sp['errors']} assertion errors, {rate}, "
            f"peak {sp['peak_kib'] / 1024:.1f} MiB"
        )
        print(f"  ratio finirace / SPIN end to end: {fr['seconds'] / sp['seconds']:.2f}")
    for n in range(3, args.workers + 1):
        with tempfile.TemporaryDirectory(prefix="finirace-seed-") as tmp:
            path = Path(tmp) / f"seed-{n}.toml"
            path.write_text(seed_shaped_text(n))
            fr = min((finirace("prefix", str(path)) for _ in range(args.repeat)), key=lambda r: r["seconds"])
        print(f"seed with {n} workers under prefix")
        print(
            f"  finirace check: {fr['seconds']:.3f} s end to end, {fr['cpu']:.2f} s of CPU "
            f"({fr['search_seconds']:.2f} s search and minimization), "
            f"{fr['states']} states, {fr['transitions']} transitions, peak {fr['peak_kib'] / 1024:.1f} MiB; "
            f"{len(fr['outcomes'])} outcomes"
        )
        if not have_spin:
            continue
        sp = best_spin(args.repeat, "prefix", n)
        print(
            f"  SPIN (spin -DN={n} -a, gcc, pan -a): {sp['seconds']:.3f} s end to end, {sp['cpu']:.2f} s of CPU, "
            f"{sp['states']} states stored, {sp['matched']} matched, {sp['errors']} assertion errors, "
            f"peak {sp['peak_kib'] / 1024:.1f} MiB"
        )
        print(f"  ratio finirace / SPIN end to end, {n} workers: {fr['seconds'] / sp['seconds']:.2f} "
              f"(CPU: {fr['cpu'] / sp['cpu']:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
