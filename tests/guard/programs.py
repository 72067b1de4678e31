"""Interpreters the guard is tested on, and a way to run a guarded program on each."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
PYENV = Path("/root/.pyenv/versions")
VERSIONS = ("3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0")


def interpreter(version: str) -> str:
    return str(PYENV / version / "bin" / f"python{version.rsplit('.', 1)[0]}")


def pythons():
    """One pytest param per installed interpreter 3.8-3.13 (skipped when missing)."""
    return [
        pytest.param(interpreter(v), id=v,
                     marks=pytest.mark.skipif(not os.path.exists(interpreter(v)), reason=f"needs CPython {v}"))
        for v in VERSIONS
    ]


def run_python(python: str, code: str, env: dict[str, str] | None = None, timeout: float = 60):
    """Run ``code`` from a file with ``python``; finirace's source importable; the completed process."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("FINIRACE_", "PYTHON"))}
    full.update(env or {})
    prelude = f"import sys; sys.path.insert(0, {SRC!r})\n"
    with tempfile.TemporaryDirectory(prefix="finirace-guard-") as tmp:
        script = Path(tmp) / "prog.py"
        script.write_text(prelude + code)
        return subprocess.run([python, str(script)], capture_output=True, text=True, env=full, timeout=timeout)


# --- real programs that abort at exit, and the one line that fixes them ---

VENVS = Path(os.environ.get("FINIRACE_TEST_VENVS") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
             / "finirace" / "test-venvs")
WHEEL_VERSIONS = ("3.11.7", "3.12.1", "3.13.0")  # test.sh makes a venv with the wheels for each

# the fix, as an application adds it (the sys.path line only because finirace
# is not installed in these interpreters)
GUARD_LINE = f"import sys; sys.path.insert(0, {SRC!r})\nimport finirace.guard; finirace.guard.install()\n"

OPENCV = """
import threading
import numpy as np, cv2
img = np.random.randint(0, 255, (480, 640, 3), dtype=np.uint8)
def blur():
    while True:
        cv2.GaussianBlur(img, (31, 31), 0)
for _ in range(4):
    threading.Thread(target=blur, daemon=True).start()
"""

DUCKDB = """
import threading
import duckdb
def query():
    con = duckdb.connect()
    while True:
        con.execute("select sum(i * i) from range(2000000) t(i)").fetchall()
for _ in range(4):
    threading.Thread(target=query, daemon=True).start()
"""

# A pure-Python program whose daemon threads keep the GIL busy, as workers do:
# short GIL-releasing C calls on freshly built buffers (zlib, hashlib, bz2),
# a zero-timeout poll loop, and a producer and a consumer on a queue.  On
# 3.10 it crashes in take_gil at exit (RESET_GIL_DROP_REQUEST on the freed
# interpreter) under stress's python perturbation in nearly every run: the
# crash needs a thread that already asked for the GIL (its drop request set)
# to be still waiting when finalization starts, which threads that come back
# for the GIL this often always are (docs/fixing-applications.md).  The
# catalog's four-thread program (finirace.stress.examples.DAEMON_AT_EXIT)
# meets that in about half the runs.
BUSY_DAEMONS = """
import bz2, hashlib, queue, threading, time, zlib

jobs = queue.Queue()

def compressor():  # compresses buffers, over and over
    while True:
        zlib.compress(b"x" * 200_000)

def hasher():  # checksums buffers
    while True:
        hashlib.sha256(b"y" * 400_000).digest()

def archiver():  # bz2-packs buffers
    while True:
        bz2.compress(b"z" * 100_000)

def poller():  # polls with a zero timeout, like an event loop with nothing to do
    while True:
        time.sleep(0)

def producer():  # hands out a job every millisecond
    while True:
        jobs.put(b"w" * 100_000)
        time.sleep(0.001)

def consumer():  # waits for jobs on the queue and checksums them
    while True:
        zlib.crc32(jobs.get())

for worker in [compressor, hasher, archiver, compressor] * 2 + [poller, producer, consumer]:
    threading.Thread(target=worker, daemon=True).start()
"""

# The lab's cxx-noexcept program as an extension module: the GIL is taken back
# inside a C++ noexcept frame, the lab's FR_NOEXCEPT idiom (pybind11's
# gil_scoped_release destructor does the same).
NOEXCEPT_EXT = r"""
#include <Python.h>
#include <time.h>
#define FR_NOEXCEPT(stmt) [&]() noexcept { stmt; }()  /* a C++ noexcept frame around the call */

static PyObject *blocking_call(PyObject *self, PyObject *arg) {
    long us = PyLong_AsLong(arg);
    if (us < 0 && PyErr_Occurred()) return NULL;
    PyThreadState *save = PyEval_SaveThread();
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
    FR_NOEXCEPT(PyEval_RestoreThread(save));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {{"blocking_call", blocking_call, METH_O, "sleep in C, take the GIL back noexcept"}, {NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "fr_noexcept", NULL, -1, methods};
PyMODINIT_FUNC PyInit_fr_noexcept(void) { return PyModule_Create(&module); }
"""

NOEXCEPT = """
import threading
import fr_noexcept
def work():
    while True:
        fr_noexcept.blocking_call(500)
for _ in range(4):
    threading.Thread(target=work, daemon=True).start()
"""


def venv_python(version: str) -> Path:
    return VENVS / version / "bin" / "python"


def build_noexcept_ext(python: str, out_dir: Path) -> None:
    """Build ``fr_noexcept`` for ``python`` into ``out_dir`` with g++ and the interpreter's headers."""
    info = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['include']); "
                           "print(sysconfig.get_config_var('EXT_SUFFIX'))"],
                          capture_output=True, text=True, check=True).stdout.split()
    src = out_dir / "fr_noexcept.cpp"
    src.write_text(NOEXCEPT_EXT)
    subprocess.run(["g++", "-O1", "-shared", "-fPIC", f"-I{info[0]}", str(src), "-o", str(out_dir / f"fr_noexcept{info[1]}")],
                   check=True, capture_output=True)
