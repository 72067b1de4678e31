"""The shim's crash backtraces named from the libraries themselves: a C++ library with hidden functions, stripped and not."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import pytest

from finirace.outcome import RunKind
from finirace.stress import crashtrace
from finirace.stress.execute import RunSpec, execute_run, run_environment
from finirace.stress.perturb import Perturbation

pytestmark = pytest.mark.skipif(not (shutil.which("g++") and shutil.which("c++filt")), reason="needs g++ and binutils")

def _crash(libraries, which):
    spec = RunSpec((sys.executable, str(libraries["prog"]), str(libraries[which])), 0, 1, timeout=60,
                   perturbation=Perturbation(level="none"))
    record = execute_run(spec)
    assert record.outcome.kind is RunKind.CRASH and record.outcome.signal == "SIGSEGV", record.stderr_tail
    return record


def test_hidden_functions_are_named_from_the_symbol_table_and_demangled(libraries):
    record = _crash(libraries, "full")
    lines = record.native_backtrace.splitlines()
    frames = [ln.strip() for ln in lines[1:]]
    # the signal handler's and the kernel's frames are trimmed: the first frame is where it faulted
    assert frames[0].startswith("engine::compute_kernel(int volatile*)"), frames
    assert not any("on_fatal" in f or "__restore_rt" in f or "finirace-shim" in f for f in frames), frames
    names = [f.split(" from ")[0] for f in frames]
    assert names[:4] == ["engine::compute_kernel(int volatile*)", "engine::Pipeline::execute(int)",
                         "engine::Pipeline_run(int)", "engine::Connection_query(int)"], frames
    assert "start_query" in names[4]
    assert not any(n.startswith("_Z") for n in names)  # nothing left mangled
    assert not any("guess" in f for f in frames if "libengine" in f)
    assert record.signature == ("crash SIGSEGV | engine::compute_kernel | engine::Pipeline::execute"
                                " | engine::Pipeline_run")


def test_a_stripped_library_gives_guesses_and_the_signature_does_not_use_them(libraries):
    record = _crash(libraries, "stripped")
    frames = [ln.strip() for ln in record.native_backtrace.splitlines()[1:]]
    ours = [f for f in frames if "libengine_stripped" in f]
    # hidden functions: named after the exported symbol before them (dladdr's answer), marked a guess
    assert [f.split(" from ")[0] for f in ours[:3]] == ["engine_marker (guess: nearest symbol)"] * 3, frames
    # the exported ones are named for sure, demangled
    sure = [f.split(" from ")[0] for f in ours if "guess" not in f]
    assert "engine::Connection_query(int)" in sure and "start_query" in sure, frames
    # the guesses are one unknown frame of the library, then the frames named for sure
    assert record.signature == "crash SIGSEGV | libengine_stripped.so+? | engine::Connection_query | start_query"
    assert "engine_marker" not in record.signature


def test_guessed_frames_never_reach_a_signature():
    from finirace.detectors.backtrace import NativeFrame
    from finirace.outcome import RunOutcome
    from finirace.stress import signature as sig

    frames = [NativeFrame("wrong::Exported()", library="/x/libduck.so", guess=True),
              NativeFrame("__GI_raise", library="/lib/libc.so.6", guess=True),
              NativeFrame("duck::Real::run()", library="/x/libduck.so"), NativeFrame("main")]
    assert sig.signature(RunOutcome(RunKind.CRASH, signal="SIGSEGV"), frames) == (
        "crash SIGSEGV | libduck.so+? | duck::Real::run | main")


# Two threads meet, then one writes through NULL and the other aborts, at
# nearly the same moment: each prints its own stack, and one signal ends the process.
TWO_CRASHES_C = r"""
#include <pthread.h>
#include <stdlib.h>
static int ready;
static void meet(void) {
    __atomic_add_fetch(&ready, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&ready, __ATOMIC_ACQUIRE) < 2) { }
}
__attribute__((noinline)) void crash_in_alpha(volatile int *p) { *p = 1; }
__attribute__((noinline)) void step_alpha(void) { crash_in_alpha((volatile int *)0); }
__attribute__((noinline)) void *thread_alpha(void *a) { meet(); step_alpha(); return a; }
__attribute__((noinline)) void abort_in_beta(void) { abort(); }
__attribute__((noinline)) void step_beta(void) { abort_in_beta(); }
__attribute__((noinline)) void *thread_beta(void *a) { meet(); step_beta(); return a; }
int main(void) {
    pthread_t a, b;
    pthread_create(&a, NULL, thread_alpha, NULL);
    pthread_create(&b, NULL, thread_beta, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    return 0;
}
"""

ALPHA = ["crash_in_alpha", "step_alpha", "thread_alpha"]
BETA = ["abort_in_beta", "step_beta", "thread_beta"]


def _ours(trace):
    return [f.function for f in trace.frames if f.function in ALPHA + BETA]


def test_two_threads_crashing_at_once_each_get_their_own_stack_and_the_ending_signal_is_tied_to_its_thread(tmp_path):
    src = tmp_path / "two.c"
    src.write_text(TWO_CRASHES_C)
    binary = tmp_path / "two"
    subprocess.run(["gcc", "-O1", "-fno-inline", "-fno-optimize-sibling-calls", "-pthread", str(src), "-o", str(binary)],
                   check=True)
    spec = RunSpec((str(binary),), 0, 1, timeout=60, perturbation=Perturbation(level="none"))
    both = 0
    for _ in range(4):  # the second thread may be preempted past the first one's grace on a loaded machine: seen once is enough
        result = subprocess.run(spec.argv, env=run_environment(spec), capture_output=True, text=True, timeout=60)
        trace = crashtrace.parse(result.stderr)
        assert trace is not None and trace.complete, result.stderr
        # the run ended of the signal of the thread named as ending it, and that thread's stack is its own
        assert trace.signal == -result.returncode in (signal.SIGSEGV, signal.SIGABRT), (result.returncode, result.stderr)
        assert _ours(trace) == (ALPHA if trace.signal == signal.SIGSEGV else BETA), trace.text()
        for other in trace.others:  # never a frame of the other thread mixed in (it may be cut short by the end)
            assert other.thread != trace.thread and other.signal != trace.signal
            theirs = BETA if other.signal == signal.SIGABRT else ALPHA
            assert _ours(other) == (theirs if other.complete else theirs[: len(_ours(other))]), trace.text()
        both += len(trace.others) == 1 and trace.others[0].complete
        assert "==finirace-bt==" not in crashtrace.without_block(result.stderr)
    assert both, "the second thread's stack was never printed"
    record = execute_run(spec)  # the stored record: the signature is the ending thread's
    ending = BETA if record.outcome.signal == "SIGABRT" else ALPHA
    assert record.signature.split(" | ")[1:] == ending, record.signature
    assert "==finirace-bt==" not in record.stderr_tail


def test_interleaved_lines_are_grouped_by_thread_and_cut_out_cleanly():
    """Lines of two threads interleaved, one landed inside faulthandler's line: grouped back, the other text made whole."""
    stderr = (
        "Fatal Python error: ==finirace-bt== T11 signal 11\n"
        "Segmentation fault\n"
        "==finirace-bt== T22 signal 6\n"
        "==finirace-bt== T11 frame 0x1 pc - ?\n"
        "  File \"a.py\", line 3 in ==finirace-bt== T22 frame 0x2 pc - ?\n"
        "run\n"
        "==finirace-bt== T11 frame 0x3 ra - ?\n"
        "==finirace-bt== T22 frame 0x4 ra - ?\n"
        "==finirace-bt== T22 end\n"
        "==finirace-bt== T11 frame 0x5 ra - ?\n"
        "==finirace-bt== T22 ends 6\n"
    )
    trace = crashtrace.parse(stderr)
    assert (trace.thread, trace.signal, trace.complete) == (22, 6, True)
    assert [f.address for f in trace.frames] == ["0x2", "0x4"]
    (other,) = trace.others
    assert (other.thread, other.signal, other.complete) == (11, 11, False)  # the process died before its "end"
    assert [f.address for f in other.frames] == ["0x1", "0x3", "0x5"]
    assert crashtrace.without_block(stderr) == "Fatal Python error: Segmentation fault\n  File \"a.py\", line 3 in run\n"
    assert "signal 6 ended the run" in trace.text() and "also crashing: thread 11" in trace.text()
    # without an "ends" line (killed first), the first thread that printed leads
    assert crashtrace.parse(stderr.replace("==finirace-bt== T22 ends 6\n", "")).thread == 11
