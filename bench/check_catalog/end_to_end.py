"""``finirace check`` on the whole bundled catalog end to end, beside its searches alone.

What a user waits for is the command, not the search: besides the searches it
builds each scenario's machine per era, minimizes each run the search found
(explore/minimize.py), replays each to its trace, imports, and prints.  Each
run is a child process (a fresh interpreter, as a user starts it), timed for CPU
(its own and its pool's children's, which it waits for) and wall; ``-j 1`` is
every cell in one process, the default one per core (explore/pool.py).  The
ratio to the searches alone (``run.py --catalog-pass symmetry``: the default
search over the same cells, in a child too) says how much of the command is
the work around the search.

    python bench/check_catalog/end_to_end.py        (run.py prints its line too)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def check_once(*extra: str) -> tuple[float, float]:
    """``finirace check [extra]`` on the whole catalog in a child: (CPU, wall) seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "finirace", "check", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - start


def line(search: float, runs: int = 3) -> str:
    """The end-to-end figures (fastest of ``runs``, the two ways alternated) beside ``search``,
    the CPU seconds of the searches alone measured in the same run."""
    got: dict[str, list[tuple[float, float]]] = {"-j 1": [], "default": []}
    for _ in range(runs):
        got["-j 1"].append(check_once("-j", "1"))
        got["default"].append(check_once())
    one, many = min(got["-j 1"]), min(got["default"])
    wall_one, wall_many = min(w for _, w in got["-j 1"]), min(w for _, w in got["default"])
    return (f"finirace check, whole catalog end to end (child process, fastest of {runs}): -j 1 {one[0]:.2f} s CPU "
            f"{wall_one:.2f} s wall; default (one per core, {os.cpu_count()} here) {many[0]:.2f} s CPU "
            f"{wall_many:.2f} s wall; its searches alone {search:.2f} s CPU: -j 1 CPU / search {one[0] / search:.2f}")


def main() -> int:
    run = Path(__file__).with_name("run.py")
    passes = [json.loads(subprocess.run([sys.executable, str(run), "--catalog-pass", "symmetry"], capture_output=True,
                                        text=True, check=True).stdout)["seconds"] for _ in range(3)]
    print(line(min(passes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
