"""Signatures: one bucket per bug, whatever extension the crashing thread came back from."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from finirace.detectors.backtrace import NativeFrame, parse_backtraces
from finirace.outcome import RunKind, RunOutcome
from finirace.store import Store
from finirace.stress import signature as sig
from finirace.stress.perturb import Perturbation
from finirace.stress.runner import CampaignSettings, open_campaign, run_campaign

SEGV = RunOutcome(RunKind.CRASH, signal="SIGSEGV")


def test_crash_in_take_gil_is_one_bucket_whichever_extension_released_the_gil():
    # faulting-thread frames as the shim prints them (symbolized), innermost first:
    # the 3.10 daemon-at-exit crash, reached from zlib in one run and _hashlib in another
    tail = ["_PyEval_EvalFrameDefault", "_PyFunction_Vectorcall", "thread_run", "start_thread"]
    from_zlib = ["??", "??", "take_gil", "PyEval_RestoreThread", "zlib_Compress_compress", "cfunction_vectorcall_O", *tail]
    from_hashlib = ["??", "take_gil", "PyEval_RestoreThread", "EVP_hash", "EVP_update", "method_vectorcall_O", *tail]
    a = sig.signature(SEGV, from_zlib)
    b = sig.signature(SEGV, from_hashlib)
    assert a == b == "crash SIGSEGV | take_gil | PyEval_RestoreThread"


def test_frames_below_ordinary_functions_still_tell_bugs_apart():
    one = sig.signature(SEGV, ["??", "subtype_dealloc", "list_dealloc", "frame_dealloc", "x"])
    two = sig.signature(SEGV, ["??", "subtype_dealloc", "dict_dealloc", "frame_dealloc", "x"])
    assert one != two
    assert one == "crash SIGSEGV | subtype_dealloc | list_dealloc | frame_dealloc"


def test_generic_frames_are_walked_past_and_a_signature_has_at_most_3_frames():
    s = sig.signature(RunOutcome(RunKind.ABORT, signal="SIGABRT"), ["os_abort_impl", "cfunction_vectorcall_NOARGS", "atexit_callfuncs", "Py_FinalizeEx", "x"])
    assert s == "abort SIGABRT | os_abort_impl | atexit_callfuncs | Py_FinalizeEx"
    hang = ["_PyEval_EvalFrameDefault", "a", "_PyFunction_Vectorcall", "b", "_PyEval_Vector", "c", "d", "e"]
    assert sig.signature(RunOutcome(RunKind.TIMEOUT), hang).split(" | ")[1:] == ["a", "b", "c"]


def test_python_frames_are_used_when_there_are_no_native_ones():
    dump = 'Current thread 0x00007f (most recent call first):\n  File "/a/b/prog.py", line 3 in worker\n  File "/a/b/prog.py", line 9 in <module>\n'
    assert sig.signature(SEGV, [], sig.python_frames(dump)) == "crash SIGSEGV | py:prog.py:worker | py:prog.py:<module>"


def test_crash_types_follow_the_run_kind():
    assert sig.crash_type(RunOutcome(RunKind.ABORT, signal="SIGABRT", reason="Fatal Python error: x")) == "abort Fatal Python error: x"
    mem = RunOutcome(RunKind.MEMORY_ERROR, reason="Invalid read in take_gil")
    assert sig.crash_type(mem) == "memory-error Invalid read"
    assert sig.crash_type(RunOutcome(RunKind.TIMEOUT, signal="SIGKILL")) == "timeout"
    assert sig.signature(RunOutcome(RunKind.TIMEOUT), ["??", "take_gil", "x"]) == "timeout | take_gil | x"


def test_a_semaphore_hang_is_named_by_the_program_not_by_glibc():
    # gdb's stack of a main thread stuck in sem_wait inside a library, glibc's debug info installed
    text = (
        'Thread 1 (Thread 0x7f01 (LWP 41) "python3"):\n'
        "#0  0x00007f in __futex_abstimed_wait_common64 (private=0) at ./nptl/futex-internal.c:57\n"
        "#1  __futex_abstimed_wait_common (cancel=true) at ./nptl/futex-internal.c:87\n"
        "#2  0x00007f in __GI___futex_abstimed_wait_cancelable64 (expected=0) at ./nptl/futex-internal.c:139\n"
        "#3  0x00007f in do_futex_wait (sem=0x7f, abstime=0x0, clockid=0) at ./nptl/sem_waitcommon.c:111\n"
        "#4  0x00007f in __new_sem_wait_slow64 (sem=0x7f, abstime=0x0, clockid=0) at ./nptl/sem_waitcommon.c:183\n"
        "#5  0x00007f in pool_join () from /opt/lib/libpool.so\n"
        "#6  0x00007f in pool_shutdown (p=0x1) at src/pool.c:88\n"
        "#7  0x00007f in atexit_callfuncs (state=0x1) at ./Modules/atexitmodule.c:98\n"
    )
    (main,) = parse_backtraces(text)
    assert sig.signature(RunOutcome(RunKind.TIMEOUT), main.frames) == "timeout | pool_join | pool_shutdown | atexit_callfuncs"
    # the same stack without glibc's debug info (frames from libc.so.6) gives the same signature
    bare = text.replace(" at ./nptl/futex-internal.c:57", " from /lib/x86_64-linux-gnu/libc.so.6").replace(
        " at ./nptl/sem_waitcommon.c:111", " from /lib/x86_64-linux-gnu/libc.so.6")
    (main,) = parse_backtraces(bare)
    assert sig.signature(RunOutcome(RunKind.TIMEOUT), main.frames) == "timeout | pool_join | pool_shutdown | atexit_callfuncs"


def test_abort_messages_differing_by_a_number_or_an_address_are_one_bucket():
    a = RunOutcome(RunKind.ABORT, signal="SIGABRT", reason="terminate called after throwing: timeout after 1200 ms at 0x7f3a")
    b = RunOutcome(RunKind.ABORT, signal="SIGABRT", reason="terminate called after throwing: timeout after 95 ms at 0x55d0")
    assert sig.crash_type(a) == sig.crash_type(b) == "abort terminate called after throwing: timeout after N ms at 0x?"
    assert sig.normalize_message("sha256 of worker-3 failed") == "sha256 of worker-N failed"  # a name keeps its digits


PY311 = "/root/.pyenv/versions/3.11.7/bin/python3.11"

# A C++ extension whose daemon threads take the GIL back inside a noexcept
# function: on 3.11, the thread coming back after finalization calls
# pthread_exit, whose forced unwind meets the noexcept frame and aborts.
_NOEXCEPT_PKG = r"""
#include <Python.h>
#include <time.h>
static void NAME_take_back(PyThreadState *save) noexcept { PyEval_RestoreThread(save); }
__attribute__((noinline)) static PyObject *NAME_compute(PyObject *self, PyObject *unused) {
    PyThreadState *save = PyEval_SaveThread();
    struct timespec ts = {0, 300000L};
    nanosleep(&ts, NULL);
    NAME_take_back(save);
    Py_RETURN_NONE;
}
static PyMethodDef methods[] = {{"compute", NAME_compute, METH_NOARGS, "sleep in C, take the GIL back noexcept"}, {NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "NAME", NULL, -1, methods};
PyMODINIT_FUNC PyInit_NAME(void) { return PyModule_Create(&module); }
"""

_NOEXCEPT_PROG = """
import sys, threading
sys.path.insert(0, {dir!r})
import NAME
def work():
    while True:
        NAME.compute()
threading.Thread(target=work, daemon=True).start()  # one thread: no second terminate garbles the first's stack
"""


def _noexcept_program(tmp_path, name: str) -> list[str]:
    include, suffix = subprocess.run([PY311, "-c", "import sysconfig; print(sysconfig.get_paths()['include']); "
                                      "print(sysconfig.get_config_var('EXT_SUFFIX'))"],
                                     capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path / f"{name}.cpp"
    src.write_text(_NOEXCEPT_PKG.replace("NAME", name))
    subprocess.run(["g++", "-O1", "-shared", "-fPIC", f"-I{include}", str(src), "-o", str(tmp_path / f"{name}{suffix}")],
                   check=True, capture_output=True)
    script = tmp_path / f"{name}_prog.py"
    script.write_text(_NOEXCEPT_PROG.replace("NAME", name).format(dir=str(tmp_path)))
    return [PY311, str(script)]


@pytest.mark.skipif(not os.path.exists(PY311) or shutil.which("g++") is None, reason="needs the installed CPython 3.11.7 and g++")
def test_thread_exit_aborts_of_two_cxx_packages_are_two_buckets_each_naming_its_own_function(db, tmp_path):
    signatures = set()
    with Store(db) as store:
        for name in ("fr_alpha", "fr_beta"):
            settings = CampaignSettings(argv=tuple(_noexcept_program(tmp_path, name)), runs=3, jobs=2, timeout=30, seed=5,
                                        perturbation=Perturbation(level="none"))
            campaign, settings = open_campaign(store, name, settings)
            run_campaign(store, campaign, settings)
            aborts = [b.signature for b in store.buckets(campaign.id) if b.signature.startswith("abort")]
            assert aborts, [b.signature for b in store.buckets(campaign.id)]
            for s in aborts:  # the package's own frame, not the unwinder's or the GIL's
                frames = s.split(" | ")[1:]
                assert s.startswith(sig.THREAD_EXIT_ABORT) and frames[0] == f"{name}_compute", s
                assert not {"PyEval_RestoreThread", "take_gil", "PyThread_exit_thread"} & set(frames), s
            signatures.update(aborts)
    assert len(signatures) == 2, signatures


def test_a_thread_exit_unwind_is_known_by_its_unwinder_frames_and_other_aborts_keep_their_end_frames():
    gcc = "/lib/x86_64-linux-gnu/libgcc_s.so.1"
    unwind = [NativeFrame("abort", library="/lib/x86_64-linux-gnu/libc.so.6"), NativeFrame("_Unwind_ForcedUnwind", library=gcc),
              NativeFrame("PyThread_exit_thread"), NativeFrame("take_gil"), NativeFrame("PyEval_RestoreThread"),
              NativeFrame("pkg::Session::run", language="c++"), NativeFrame("cfunction_vectorcall_O"), NativeFrame("pkg_entry")]
    abort = RunOutcome(RunKind.ABORT, signal="SIGABRT", reason="terminate called without an active exception")
    assert sig.signature(abort, unwind) == "abort thread exit unwound through noexcept | pkg::Session::run | pkg_entry"
    # a guessed unwinder name does not make it one; nor does a crash
    guessed = [NativeFrame("_Unwind_ForcedUnwind", library=gcc, guess=True), *unwind[2:]]
    assert sig.signature(abort, guessed) == ("abort terminate called without an active exception | "
                                              "PyThread_exit_thread | take_gil | PyEval_RestoreThread")
    assert sig.signature(SEGV, unwind) == "crash SIGSEGV | PyThread_exit_thread | take_gil | PyEval_RestoreThread"


def test_a_function_repeated_by_inlining_or_recursion_shows_once():
    """Recursion depth varies between runs of one bug: the bucket must not split on it."""
    crash = RunOutcome(RunKind.CRASH, signal="SIGSEGV")
    shallow = sig.signature(crash, ["string_at", "string_at", "render", "main_loop"])
    deep = sig.signature(crash, ["string_at", "string_at", "string_at", "render", "main_loop"])
    assert shallow == deep == "crash SIGSEGV | string_at | render | main_loop"
