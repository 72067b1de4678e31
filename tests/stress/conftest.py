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


# A C++ library with hidden functions.  The exported entry points come first
# in the file, then an exported symbol without a size (as assembly-written
# entry points often are), then the hidden functions: dladdr, and gdb without
# the library's symbol table, name every hidden frame after that nearest
# exported symbol before it, which is not the function that ran.
HIDDEN_CXX = r"""
#include <cstdio>
#define EXPORT __attribute__((visibility("default")))
#define HIDDEN __attribute__((noinline))
namespace engine {
HIDDEN int compute_kernel(volatile int *p);
HIDDEN int Pipeline_run(int n);
EXPORT int Connection_query(int n) { return Pipeline_run(n) + 1; }
}
extern "C" EXPORT int start_query(int n) { return engine::Connection_query(n) + 1; }
asm(".globl engine_marker\n.type engine_marker, @function\nengine_marker:\n\tret\n");
namespace engine {
struct Pipeline {
    HIDDEN static int execute(int n) { return compute_kernel(n > 0 ? (volatile int *)0 : nullptr) + 1; }
};
HIDDEN int compute_kernel(volatile int *p) { *p = 7; return *p + 1; }
HIDDEN int Pipeline_run(int n) { return Pipeline::execute(n) + 1; }
}
"""

HIDDEN_PROGRAM = "import ctypes, sys\nlib = ctypes.CDLL(sys.argv[1])\nlib.start_query(1)\n"


@pytest.fixture(scope="session")
def libraries(tmp_path_factory) -> dict[str, Path]:
    """The hidden-function C++ library built with its symbol table (``full``) and stripped, and a program crashing in it."""
    d = tmp_path_factory.mktemp("hidden")
    src = d / "engine.cpp"
    src.write_text(HIDDEN_CXX)
    flags = ["g++", "-O1", "-fno-inline", "-fno-toplevel-reorder", "-fno-optimize-sibling-calls", "-fPIC", "-shared",
             "-fvisibility=hidden"]
    out = {}
    for name, extra in (("full", []), ("stripped", ["-s"])):
        lib = d / f"libengine_{name}.so"
        subprocess.run([*flags, *extra, "-o", str(lib), str(src)], check=True)
        out[name] = lib
    (d / "prog.py").write_text(HIDDEN_PROGRAM)
    out["prog"] = d / "prog.py"
    return out
