"""The audit on real native code: a C++ engine that aborts at exit, stripped and not, a Rust library, a held library lock."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from finirace.audit import audit
from finirace.audit.assess import IN_C, WAITING_GIL

PY = sys.executable  # 3.9-3.13: a thread taking the GIL back after finalization began gets pthread_exit
needs_gxx = pytest.mark.skipif(not shutil.which("g++"), reason="needs g++")

# C innermost (kernel_wait_finalizing), C++ further out; when finalization has begun the C++
# code reports progress to Python (PyGILState_Ensure): pthread_exit unwinds through the
# noexcept run_all, std::terminate, SIGABRT.
KERNEL_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <unistd.h>
int kernel_wait_finalizing(void) {
    int (*fin)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsFinalizing");
    if (!fin) fin = (int (*)(void))dlsym(RTLD_DEFAULT, "_Py_IsFinalizing");
    volatile long x = 0;
    while (!(fin && fin())) { for (int i = 0; i < 20000; i++) x += i; usleep(200); }
    return (int)x;
}
"""
ENGINE_CXX = r"""
#include <dlfcn.h>
extern "C" int kernel_wait_finalizing(void);
namespace engine {
__attribute__((noinline)) void report_progress() {
    auto ensure = (int (*)())dlsym(RTLD_DEFAULT, "PyGILState_Ensure");
    auto release = (void (*)(int))dlsym(RTLD_DEFAULT, "PyGILState_Release");
    release(ensure());
}
__attribute__((noinline)) void step() { kernel_wait_finalizing(); report_progress(); }
__attribute__((noinline)) void run_all() noexcept { for (;;) step(); }
}
extern "C" __attribute__((visibility("default"))) void engine_run(void) { engine::run_all(); }
"""
ENGINE_PY = (
    "import ctypes, sys, threading, time\n"
    "lib = ctypes.CDLL(sys.argv[1])\n"
    "class Slow:\n    def __del__(self, sleep=time.sleep):\n        sleep(0.5)  # finalization lasts: the engine reports first\n"
    "keep = Slow()\n"
    "threading.Thread(target=lib.engine_run, daemon=True, name='engine').start()\n"
    "time.sleep(0.3)\n"
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    d = tmp_path_factory.mktemp("engine")
    (d / "kernel.c").write_text(KERNEL_C)
    (d / "engine.cpp").write_text(ENGINE_CXX)
    (d / "prog.py").write_text(ENGINE_PY)
    subprocess.run(["gcc", "-O1", "-fPIC", "-fvisibility=hidden", "-c", "kernel.c", "-o", "kernel.o"], cwd=d, check=True)
    libs = {}
    for name, extra in (("full", []), ("stripped", ["-s"])):
        lib = d / f"libengine_{name}.so"
        subprocess.run(["g++", "-O1", "-fPIC", "-shared", "-fvisibility=hidden", *extra, "-o", str(lib), "engine.cpp",
                        "kernel.o", "-ldl"], cwd=d, check=True)
        libs[name] = lib
    return d / "prog.py", libs


@needs_gxx
@pytest.mark.parametrize("which", ["full", "stripped"])
def test_an_abort_is_tied_to_the_cxx_thread_whose_whole_stack_is_resolved(engine, which):
    prog, libs = engine
    report = audit([PY, str(prog), str(libs[which])], timeout=60)
    assert report.recorded, report.exit.describe()
    (t,) = [t for t in report.threads if t.name == "engine"]
    assert t.state == IN_C and t.in_c
    names = [f.function for f in t.native_stack]
    ours = [f for f in t.native_stack if "libengine" in f.library]
    # the whole stack: C innermost, the C++ frames further out, then ctypes and the eval loop
    assert len(ours) >= 4 and "_PyEval_EvalFrameDefault" in names
    if which == "full":
        assert [f.function for f in ours[:4]] == ["kernel_wait_finalizing", "engine::step()", "engine::run_all()", "engine_run"]
        assert [f.language for f in ours[:4]] == ["c", "c++", "c++", "c"]
    else:  # stripped: no names to trust, but the library links libstdc++: its frames are C++
        assert all(f.guess or f.function in ("??", "engine_run") for f in ours)
        assert all(f.language == "c++" for f in ours if f.function != "engine_run")
    assert t.cxx and any(flag.startswith("C++ frames under a GIL release") for flag in t.flags)
    # the run's end, tied to the thread that caused it
    assert report.exit.signal == "SIGABRT", report.exit.stderr[-2000:]
    assert report.ending is not None and "terminate called" in report.ending.message
    assert report.culprit is not None and report.culprit.name == "engine"


@needs_gxx
def test_the_audit_command_says_why_the_run_aborted(engine, cli):
    prog, libs = engine
    p = cli("audit", "--", PY, str(prog), str(libs["stripped"]))
    assert p.returncode == 1
    assert "run killed by SIGABRT: terminate called without an active exception, in thread 'engine' (daemon, flagged above)" in p.stdout, p.stdout


RUST = r"""
use std::os::raw::{c_char, c_int, c_void};
extern "C" { fn dlsym(h: *mut c_void, s: *const c_char) -> *mut c_void; fn usleep(u: u32) -> c_int; }
#[inline(never)]
fn finalizing() -> bool {
    unsafe {
        let mut f = dlsym(std::ptr::null_mut(), b"Py_IsFinalizing\0".as_ptr() as *const c_char);
        if f.is_null() { f = dlsym(std::ptr::null_mut(), b"_Py_IsFinalizing\0".as_ptr() as *const c_char); }
        if f.is_null() { return false; }
        let g: extern "C" fn() -> c_int = std::mem::transmute(f);
        g() != 0
    }
}
#[inline(never)]
fn crunch(v: &mut Vec<u64>) { for i in 0..v.len() { v[i] = v[i].wrapping_mul(31).wrapping_add(i as u64); } }
#[inline(never)]
fn frame_loop() { let mut v = vec![1u64; 4096]; while !finalizing() { crunch(&mut v); unsafe { usleep(200); } } }
#[no_mangle]
pub extern "C" fn frames_run() { frame_loop(); }
"""


@pytest.mark.skipif(not shutil.which("rustc"), reason="needs rustc")
def test_rust_frames_are_not_cxx(tmp_path):
    (tmp_path / "lib.rs").write_text(RUST)
    lib = tmp_path / "libframes.so"
    subprocess.run(["rustc", "--crate-type", "cdylib", "-O", "-C", "debuginfo=0", "lib.rs", "-o", str(lib)],
                   cwd=tmp_path, check=True, capture_output=True)
    prog = tmp_path / "prog.py"
    prog.write_text("import ctypes, sys, threading, time\nlib = ctypes.CDLL(sys.argv[1])\n"
                    "threading.Thread(target=lib.frames_run, daemon=True, name='polars-like').start()\ntime.sleep(0.3)\n")
    report = audit([PY, str(prog), str(lib)], timeout=60)
    (t,) = [t for t in report.threads if t.name == "polars-like"]
    rust = [f for f in t.native_stack if f.library == str(lib)]
    assert rust and {f.language for f in rust} == {"rust"}, t.native_stack
    assert "lib::frame_loop" in [f.function for f in rust]  # demangled, the hash dropped
    assert not t.cxx and t.languages == ("rust",)
    assert not any("C++" in flag for flag in t.flags)
    assert report.exit.ok


def test_a_thread_waiting_for_the_gil_is_not_blocked_in_c(tmp_path):
    prog = tmp_path / "spin.py"
    prog.write_text("import gc, threading, time\n"
                    "def spin():\n    junk = [[i] for i in range(10000)]\n    while True:\n        gc.collect()\n"
                    "threading.Thread(target=spin, daemon=True, name='spinner').start()\ntime.sleep(0.2)\n")
    report = audit([PY, str(prog)], timeout=60)
    (t,) = [t for t in report.threads if t.name == "spinner"]
    assert t.native_stack and t.state == WAITING_GIL, [f.function for f in t.native_stack]
    assert t.in_c is False and "daemon thread blocked in C with the GIL released" not in t.flags


LOCK_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>
pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
void registry_hold(void) {  /* takes the library's lock and works until finalization, never letting go */
    pthread_mutex_lock(&registry_lock);
    for (;;) usleep(1000);
}
__attribute__((destructor)) static void registry_close(void) {  /* at exit: needs the lock */
    pthread_mutex_lock(&registry_lock);
    pthread_mutex_unlock(&registry_lock);
}
"""


def test_a_thread_holding_a_librarys_global_lock_is_flagged(tmp_path):
    (tmp_path / "reg.c").write_text(LOCK_C)
    lib = tmp_path / "libreg.so"
    subprocess.run(["gcc", "-O1", "-fPIC", "-shared", "-o", str(lib), "reg.c", "-lpthread"], cwd=tmp_path, check=True)
    prog = tmp_path / "prog.py"
    prog.write_text("import ctypes, sys, threading, time\nlib = ctypes.CDLL(sys.argv[1])\n"
                    "threading.Thread(target=lib.registry_hold, daemon=True, name='registry').start()\ntime.sleep(0.2)\n")
    report = audit([PY, str(prog), str(lib)], timeout=10)
    (t,) = [t for t in report.threads if t.name == "registry"]
    assert [(lk.name, lk.library) for lk in t.locks] == [("`registry_lock`", "libreg.so")]
    assert any(flag.startswith("holds `registry_lock` (a lock of libreg.so)") for flag in t.flags)
    assert report.exit.timed_out  # and indeed the library's destructor waits for ever at exit
