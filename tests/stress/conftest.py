"""Targets for stress tests: a real intermittent crash at exit, built for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# A daemon thread sits in C (ctypes releases the GIL) and watches the runtime.
# When finalization has started it touches a "freed thread state" (a bad
# pointer), but only on some runs: a random draw, seeded per process, decides.
# That is the daemon-at-exit shape of CATALOG.md, made frequent by design so
# a test catches it within a few dozen runs; every crash is at the same place.
EXIT_RACE_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline)) void touch_freed_tstate(void) {
    volatile int *tstate = (volatile int *)16;
    *tstate = 1;
}

void watch_finalization(void) {
    int (*finalizing)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsFinalizing");
    if (!finalizing) finalizing = (int (*)(void))dlsym(RTLD_DEFAULT, "_Py_IsFinalizing");
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    unsigned int seed = (unsigned int)(now.tv_nsec ^ getpid());
    int unlucky = rand_r(&seed) % 10 < 3;
    for (;;) {
        usleep(100);
        if (finalizing && finalizing()) {
            if (unlucky) touch_freed_tstate();
            for (;;) pause();
        }
    }
}
"""

EXIT_RACE_PY = """
import ctypes, sys, threading
lib = ctypes.CDLL(sys.argv[1])
threading.Thread(target=lib.watch_finalization, daemon=True).start()
print("main exits")
"""


@pytest.fixture(scope="session")
def exit_race(tmp_path_factory) -> list[str]:
    tmp = tmp_path_factory.mktemp("exit-race")
    src = tmp / "exit_race.c"
    src.write_text(EXIT_RACE_C)
    lib = tmp / "libexit_race.so"
    subprocess.run(["gcc", "-g", "-O1", "-shared", "-fPIC", str(src), "-o", str(lib), "-ldl"], check=True)
    script = tmp / "exit_race.py"
    script.write_text(EXIT_RACE_PY)
    return [sys.executable, str(script), str(lib)]


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "store.db"
    monkeypatch.setenv("FINIRACE_DB", str(path))
    return path
