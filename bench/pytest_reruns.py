"""What ``pytest --finirace-runs N`` costs on a real project's suite, against plain pytest, in one run.

The suite: watchdog 7.1.0's own tests, from its sdist (``pip download
--no-binary :all: --no-deps``), run from the unpacked tree as its
``pyproject.toml`` sets up (``pythonpath = "src"``), with its test plugins
(flaky, pytest-timeout) installed next to it by ``pip install --target``.
The files chosen mix quick unit tests with tests that start observer threads
and inotify watches (the kind of test finirace is for).

Timed, in this order: plain pytest, then the same session with
``--finirace-runs N`` (reruns forked from a warm process, ``--jobs J`` of a
test's reruns at once; default: the plugin's, two per core), and with
``--fresh`` also ``--finirace-fresh`` (every rerun a new interpreter, as
before warm processes).  ``--repeat K`` times the pair K times, one after the
other, and gives the spread of the ratio: on a machine shared with other jobs
one pair says little.  Target: ``--finirace-runs N`` <= (N + 2) x plain.

Usage: python bench/pytest_reruns.py [--runs N] [--jobs J] [--repeat K] [--fresh] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
PROJECT, VERSION = "watchdog", "7.1.0"
PLUGINS = ("flaky==3.8.1", "pytest-timeout==2.4.0")  # what its tests import or mark with
FILES = ("tests/test_inotify_c.py", "tests/test_observer.py", "tests/test_events.py",
         "tests/test_observers_polling.py")


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", *args], check=True)


def prepare(work: Path) -> tuple[Path, Path]:
    """The unpacked sdist and the directory its test plugins are installed in (cached in ``work``)."""
    tree = work / f"{PROJECT}-{VERSION}"
    deps = work / "deps"
    if not tree.exists():
        _pip("download", "--no-binary", ":all:", "--no-deps", "-d", str(work), f"{PROJECT}=={VERSION}")
        with tarfile.open(work / f"{PROJECT}-{VERSION}.tar.gz") as tar:
            tar.extractall(work, filter="data")
    if not deps.exists():
        _pip("install", "--no-deps", "--target", str(deps), *PLUGINS)
    return tree, deps


def session(tree: Path, deps: Path, store: Path, *extra: str) -> tuple[float, str]:
    env = dict(os.environ, FINIRACE_DB=str(store))
    env["PYTHONPATH"] = os.pathsep.join([SRC, str(deps), *filter(None, [env.get("PYTHONPATH")])])
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *FILES, *extra],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=3600)
    took = time.perf_counter() - start
    summary = [line for line in done.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    return took, (summary[-1].strip("= ") if summary else f"exit {done.returncode}") + _reruns(done.stdout)


def _reruns(out: str) -> str:
    found = re.search(r"reruns: (\d+) forked from a warm process, (\d+) in a fresh interpreter", out)
    return f"; {found.group(1)} forked, {found.group(2)} fresh" if found else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, help="--finirace-jobs (default: the plugin's, two per core)")
    parser.add_argument("--repeat", type=int, default=1, help="time the pair this many times (default 1)")
    parser.add_argument("--fresh", action="store_true", help="also time --finirace-fresh (slow)")
    parser.add_argument("--work", type=Path, help="where the sdist and plugins are kept (default: a temp dir)")
    args = parser.parse_args()
    target = args.runs + 2
    jobs = ("--finirace-jobs", str(args.jobs)) if args.jobs else ()
    with tempfile.TemporaryDirectory(prefix="finirace-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        tree, deps = prepare(work)
        store = Path(tmp) / "store.db"
        ratios = []
        for _ in range(max(1, args.repeat)):
            plain, said = session(tree, deps, store)
            print(f"plain pytest ({len(FILES)} files of {PROJECT} {VERSION}): {plain:.1f} s  [{said}]")
            reruns, said = session(tree, deps, store, "--finirace-runs", str(args.runs), *jobs)
            ratios.append(reruns / plain)
            print(f"--finirace-runs {args.runs} {' '.join(jobs)}: {reruns:.1f} s  [{said}]")
            print(f"ratio: {ratios[-1]:.2f}x plain (target <= {target}x): "
                  f"{'met' if ratios[-1] <= target else 'NOT met'}", flush=True)
        if len(ratios) > 1:
            print(f"ratio over {len(ratios)} pairs: min {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x, "
                  f"max {max(ratios):.2f}x (target <= {target}x)")
        if args.fresh:
            fresh, said = session(tree, deps, store, "--finirace-runs", str(args.runs), "--finirace-fresh", *jobs)
            print(f"--finirace-runs {args.runs} --finirace-fresh: {fresh:.1f} s  [{said}]  "
                  f"({fresh / plain:.2f}x plain, {fresh / reruns:.2f}x forked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
