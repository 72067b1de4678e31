"""The golden outcomes of ``finirace check`` and ``finirace lab`` on the bundled catalog, and how to rebuild them.

A golden file holds what a refactoring must not change: per scenario × variant,
what the model checker reaches (outcomes, counterexample schedules, state
counts, the grade against ``[expect]``); per scenario × interpreter × detector,
what a real run gave and how it was graded.  Nothing that depends on the
machine or the moment is kept: no timings, no paths, no time limits, no
backtraces.  An interpreter is named by its version label (``3.11.7``,
``3.11.2-debug``), so a machine with the same versions compares cell by cell.

A lab cell holds a list: every outcome seen across the sweeps that made the
file.  Most of the catalog's programs are ordered by pipes from start to end;
their cells hold one outcome, the same on every run, and the test demands it.
A few leave a race free-running on purpose (``seed``: the worker wakes while
main finalizes; ``daemon-at-exit``, ``spawn-during-fini``, ``guard-held``,
``seed-guarded``): two sweeps of the catalog on 2 cores already show their
cells change between ``clean`` and ``clean, worker exited``, or a crash and a
clean exit.  For those the generator samples every cell many more times
(``--repeat``), and the file keeps what was seen, but one run cannot be held
to a set of samples: on a loaded machine a rare ending shows up that 50
earlier runs never met (``guard-held`` on a debug build stopping at an
assertion where release builds crash).  So a free-running cell demands what is
deterministic about it: the era, the model's prediction, and a grade the era's
interpreters got for it in the file (:func:`verdict`, :func:`free_running`):
the run still fits the model as it did.

Regenerate (from the repository root; a model correction changes ``check.json``
on purpose, and the diff shows what it changed)::

    PYTHONPATH=src python3 tests/golden/golden.py check
    PYTHONPATH=src python3 tests/golden/golden.py lab    # every interpreter found, ~10 min

``lab`` runs the whole catalog twice (``finirace lab --catalog --all --json``),
then every scenario whose outcome varied anywhere again with ``--repeat 12``,
and keeps every outcome seen.  ``lab --keep`` adds what it sees to the file
instead of replacing it (a free-running cell that met a grade the file lacks;
``--sweeps 0 --add FILE`` merges saved ``finirace lab --catalog --all --json``
output without running anything).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECK = HERE / "check.json"
LAB = HERE / "lab.json"
# `finirace lab --catalog --all --json`, as regenerated; the test reads the suite's own sweep instead.
LAB_COMMAND = ("lab", "--catalog", "--all", "--json", "--jobs", "2", "--no-store", "--detector", "plain")


def outcome(o: dict) -> dict:
    """The outcome vocabulary's JSON without its redundant parts: a thread is one line, a memory error its text."""
    reason = re.sub(r"^no exit within [0-9.]+s$", "no exit within the time limit", o.get("reason") or "")
    return {
        "label": o["label"],
        "kind": o["kind"],
        "signal": o["signal"],
        "exit_code": o["exit_code"],
        "reason": reason,
        "threads": [f"{t['name']}: {t['outcome'] or '-'} after {t['last_marker'] or '-'} in {t['where'] or '-'}"
                    for t in o["threads"]],
        "memory_errors": ["\n".join(m["text"]) for m in o["memory_errors"]],
    }


def check_cells(results: list[dict]) -> dict[str, dict]:
    """``scenario/variant`` -> what ``finirace check --json`` found there."""
    cells = {}
    for r in results:
        cells[f"{r['scenario']}/{r['variant']}"] = {
            "strategy": r["strategy"],
            "complete": r["complete"],
            "states": r["states"],
            "transitions": r["transitions"],
            "expected": r["expected"],
            "match": r["match"],
            "outcomes": [outcome(o) for o in r["outcomes"]],
            "counterexamples": [f"{c['outcome']}: {c['schedule']} ({c['preemptions']} preemptions, {c['steps']} steps)"
                                for c in r["counterexamples"]],
        }
    return cells


def lab_key(run: dict) -> str:
    return f"{run['scenario']}/{run['version']}/{run['detector']}"


def lab_cell(run: dict) -> dict:
    """One run of ``finirace lab --json``: how it ended and its grade against the model's prediction.

    Not each thread's last step: once a run is decided, the other threads race
    with its end (main has signalled, or is already joining, when the worker
    crashes), so those details differ from run to run.  The label still says
    each thread's fate (``clean, worker hung``).
    """
    o = outcome(run["outcome"])
    del o["threads"]
    return {**o, "variant": run["variant"], "predicted": run["predicted"], "match": run["match"]}


def lab_cells(runs: list[dict], names: set[str]) -> dict[str, list[dict]]:
    """``scenario/version/detector`` -> the distinct cells seen, for the scenarios in ``names``."""
    cells: dict[str, list[dict]] = {}
    for run in runs:
        if run["scenario"] in names:
            seen = cells.setdefault(lab_key(run), [])
            if lab_cell(run) not in seen:
                seen.append(lab_cell(run))
    return cells


def free_running(cells: dict[str, list[dict]]) -> set[str]:
    """The scenarios with a cell that showed more than one outcome."""
    return {key.split("/")[0] for key, seen in cells.items() if len(seen) > 1}


def verdict(cell: dict) -> dict:
    """What is deterministic about a run of a free-running scenario: its era, the prediction and the grade."""
    return {"variant": cell["variant"], "predicted": cell["predicted"], "match": cell["match"]}


def undefined(cell: dict) -> bool:
    """A run graded ``weak``: the model predicts a memory error, and what a use of freed memory does is undefined.

    The same program on the same interpreter aborts with one fatal error, another,
    or takes SIGSEGV, by what the freed block holds at that moment (``reinit-wake``
    on 3.7 and 3.9 showed all three on CI).  Only its verdict is deterministic.
    """
    return cell["match"] == "weak"


def accepted(cells: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """What the test accepts per cell: its outcomes; for a free-running scenario, the verdicts of its era."""
    racy = free_running(cells)
    pools: dict[tuple[str, str, str], list[dict]] = {}
    for key, seen in cells.items():
        scenario, _, detector = key.split("/")
        if scenario in racy:
            pool = pools.setdefault((scenario, seen[0]["variant"], detector), [])
            pool.extend(verdict(c) for c in seen if verdict(c) not in pool)
    out = {}
    for key, seen in cells.items():
        scenario, _, detector = key.split("/")
        out[key] = pools[(scenario, seen[0]["variant"], detector)] if scenario in racy else seen
    return out


def write(path: Path, cells: dict) -> None:
    path.write_text(json.dumps(dict(sorted(cells.items())), indent=1, sort_keys=True) + "\n")


def finirace_json(*args: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, FINIRACE_CACHE_DIR=str(Path(tmp) / "cache"))
        r = subprocess.run([sys.executable, "-m", "finirace", *args], env=env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=3600)
    if r.returncode not in (0, 1):
        raise SystemExit(f"finirace {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)


def merge(cells: dict[str, list[dict]], more: dict[str, list[dict]]) -> None:
    for key, seen in more.items():
        known = cells.setdefault(key, [])
        known.extend(c for c in seen if c not in known)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", choices=("check", "lab"))
    ap.add_argument("--sweeps", type=int, default=2, help="lab: whole-catalog sweeps merged (default 2)")
    ap.add_argument("--repeat", type=int, default=12,
                    help="lab: runs per cell, on every interpreter, of a scenario whose outcome varied (default 12)")
    ap.add_argument("--add", metavar="FILE", action="append", default=[],
                    help="lab: also merge this saved output of `finirace lab --catalog --all --json`")
    ap.add_argument("--keep", action="store_true",
                    help="lab: keep what lab.json holds and add what is seen (a rare outcome the file missed)")
    a = ap.parse_args()
    if a.which == "check":
        write(CHECK, check_cells(finirace_json("check", "--json")["results"]))
        print(f"wrote {CHECK}")
        return 0
    from finirace.scenario import load_bundled

    names = {s.name for s in load_bundled()}
    sweeps = [json.loads(Path(f).read_text())["runs"] for f in a.add]
    sweeps += [finirace_json(*LAB_COMMAND)["runs"] for _ in range(a.sweeps)]
    cells: dict[str, list[dict]] = json.loads(LAB.read_text()) if a.keep else {}
    for runs in sweeps:
        merge(cells, lab_cells(runs, names))
    # a scenario whose program leaves a race free-running varies somewhere; sample all its cells many times
    racy = sorted(free_running(cells))
    if racy and a.repeat:
        again = finirace_json("lab", *racy, "--all", "--json", "--jobs", "2", "--no-store", "--repeat", str(a.repeat))
        merge(cells, lab_cells(again["runs"], names))
    write(LAB, cells)
    print(f"wrote {LAB}: {len(cells)} cells from {len(sweeps)} sweeps; free-running: {', '.join(racy) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
