"""What finirace lab costs, measured side by side in one run, printed as ratios.

1. warm cache: ``finirace lab bare --repeat 100`` against 100 runs of the bare
   embedding program (``Py_Initialize(); Py_FinalizeEx();``) from a plain loop,
   same interpreter; finirace's own start-up is included once.  Target <= 1.5x.
2. cold build: finirace's build step (code generation, cache key, gcc) against
   the bare gcc command for the bare program.  Target <= 1.2x.
3. the pipe-ordered seed reproducer against the classic sleep-ordered one.
   Reported (expect >= 100x faster).
4. an exact run (``finirace lab seed --schedule v1.a4b10a8b``: gdb holds the
   worker inside ``take_gil``, ``PYTHONMALLOC=debug``, gdb's start-up included)
   against an ordinary lab run of the same seed (pipes, plain), best of 3 each.
   Target: the exact run <= 3 s.

Usage: python bench/lab_overhead.py [--python PATH]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE_C = r"""
#include <Python.h>
int main(void) { Py_Initialize(); Py_FinalizeEx(); return 0; }
"""

# The classic reproducer: ordering by sleeps (worker wakes 3 s after it blocked).
SLEEP_SEED_C = r"""
#include <Python.h>
#include <pthread.h>
#include <unistd.h>
static void *worker(void *arg) {
    PyGILState_STATE g = PyGILState_Ensure();
    PyThreadState *ts = PyEval_SaveThread();
    sleep(3);                       /* "long enough" for main to finalize */
    PyEval_RestoreThread(ts);
    PyGILState_Release(g);
    return NULL;
}
int main(void) {
    pthread_t t;
    Py_Initialize();
    PyThreadState *ts = PyEval_SaveThread();
    pthread_create(&t, NULL, worker, NULL);
    sleep(1);                       /* "long enough" for the worker to block */
    PyEval_RestoreThread(ts);
    Py_FinalizeEx();
    sleep(3);                       /* let the worker wake up before exit */
    return 0;
}
"""

BARE_TOML = 'name = "bare"\nsummary = "init and finalize, nothing else"\n[threads]\nmain = ["init", "finalize"]\n'
SEED_TOML = """name = "seed-ordered"
[threads]
main = ["init", "save", "spawn worker", "wait blocked", "restore", "finalize", "signal finalized"]
worker = ["ensure", "save", "signal blocked", "block until finalized", "restore", "release"]
"""


def gcc(interp, src: Path, out: Path) -> None:
    subprocess.run(["gcc", "-g", "-o", str(out), str(src), *interp.cflags, *interp.ldflags, "-lpthread"],
                   check=True, capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default="/root/.pyenv/versions/3.11.7/bin/python3.11")
    ap.add_argument("--repeat", type=int, default=100)
    args = ap.parse_args()
    from finirace.lab import build, codegen, interpreters
    from finirace.scenario.format import loads

    interp = interpreters.probe(args.python)
    if not interp.can_embed:
        print(f"cannot embed {args.python}: {interp.reason}")
        return 2
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        env = dict(os.environ, FINIRACE_CACHE_DIR=str(tmp / "cache"))
        bare_src = tmp / "bare.c"
        bare_src.write_text(BARE_C)
        bare_toml = tmp / "bare.toml"
        bare_toml.write_text(BARE_TOML)

        # 2. cold build: bare gcc vs finirace's build step (fresh cache each time), best of 3
        t_gcc, t_build = [], []
        for n in range(3):
            t = time.perf_counter()
            gcc(interp, bare_src, tmp / "bare")
            t_gcc.append(time.perf_counter() - t)
            os.environ["FINIRACE_CACHE_DIR"] = str(tmp / f"cold{n}")
            t = time.perf_counter()
            build.build(codegen.generate(loads(BARE_TOML)), interp)
            t_build.append(time.perf_counter() - t)
        cold = min(t_build) / min(t_gcc)

        # 1. warm: 100 runs in a plain loop vs finirace lab --repeat 100
        run_env = interp.run_env()
        t = time.perf_counter()
        for _ in range(args.repeat):
            subprocess.run([str(tmp / "bare")], env=run_env, check=True, capture_output=True)
        t_loop = time.perf_counter() - t
        cmd = [sys.executable, "-m", "finirace", "lab", str(bare_toml), "--python", args.python, "--json", "--no-store"]
        subprocess.run(cmd, env=env, check=False, capture_output=True)  # fill the cache
        ratios = {}
        for jobs in ("1", "2"):
            t = time.perf_counter()
            r = subprocess.run([*cmd, "--repeat", str(args.repeat), "--jobs", jobs], env=env, capture_output=True)
            ratios[jobs] = (time.perf_counter() - t) / t_loop
            if r.returncode not in (0, 1):
                print(r.stderr.decode())
                return 1

        # 3. pipe-ordered seed vs the sleep-ordered reproducer (one run each)
        sleep_src = tmp / "sleep_seed.c"
        sleep_src.write_text(SLEEP_SEED_C)
        gcc(interp, sleep_src, tmp / "sleep_seed")
        t = time.perf_counter()
        subprocess.run([str(tmp / "sleep_seed")], env=run_env, capture_output=True)
        t_sleep = time.perf_counter() - t
        seed_toml = tmp / "seed.toml"
        seed_toml.write_text(SEED_TOML)
        os.environ["FINIRACE_CACHE_DIR"] = str(tmp / "cache")
        prog = codegen.generate(loads(SEED_TOML))
        built = build.build(prog, interp)
        t = time.perf_counter()
        subprocess.run([str(built.binary)], env=run_env, capture_output=True)
        t_pipe = time.perf_counter() - t

    t_plain, t_exact = exact_overhead(interp)

    print(f"interpreter: {interp.path} ({interp.label})")
    print(f"warm: {args.repeat} bare runs in a loop {t_loop:.2f}s; finirace lab --repeat {args.repeat}: "
          f"{ratios['1']:.2f}x with --jobs 1, {ratios['2']:.2f}x with --jobs 2 (target <= 1.5x)")
    print(f"cold: bare gcc {min(t_gcc) * 1000:.0f} ms; finirace build {min(t_build) * 1000:.0f} ms: "
          f"{cold:.2f}x (target <= 1.2x)")
    print(f"seed: sleep-ordered {t_sleep:.2f}s; pipe-ordered {t_pipe * 1000:.1f} ms: "
          f"{t_sleep / t_pipe:.0f}x faster (expect >= 100x)")
    if t_exact is not None:
        print(f"exact: ordinary lab run of seed {t_plain:.2f}s; exact run under gdb {t_exact:.2f}s: "
              f"{t_exact / t_plain:.1f}x (target: exact run <= 3 s)")
    return 0


def exact_overhead(interp) -> tuple[float, float | None]:
    """Best of 3: an ordinary lab run of the catalog seed, and its exact run (None: no line map here)."""
    from finirace import conformance
    from finirace.lab import build, codegen, exact, linemap, runner
    from finirace.scenario import catalog

    sc = catalog.resolve("seed")
    era = conformance.variant_for(interp)
    projection = conformance.project_schedule(sc, era, "v1.a4b10a8b") if era else None
    lines = linemap.load(interp.version[:2])
    ordered = codegen.generate(sc, projection.orderings if projection else ())
    built = build.build(ordered, interp)
    t_plain = min(runner.run(ordered, built, interp, "plain").duration for _ in range(3))
    if projection is None or projection.exact is None or exact.missing(projection.exact, lines, interp):
        return t_plain, None
    program = codegen.generate(sc)
    plain_built = build.build(program, interp)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        run = exact.run(program, plain_built, interp, projection.exact, lines, "pymalloc-debug")
        times.append(time.perf_counter() - t)
        assert run.note.startswith("exact"), run.note
    return t_plain, min(times)


if __name__ == "__main__":
    sys.exit(main())
