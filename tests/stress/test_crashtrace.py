"""The shim's crash backtraces named from the libraries themselves: a C++ library with hidden functions, stripped and not."""

from __future__ import annotations

import shutil
import sys

import pytest

from finirace.outcome import RunKind
from finirace.stress.execute import RunSpec, execute_run
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
    assert record.signature.startswith("crash SIGSEGV | libengine_stripped.so+? | "), record.signature
    assert "engine_marker" not in record.signature and "start_query" not in record.signature


def test_guessed_frames_never_reach_a_signature():
    from finirace.detectors.backtrace import NativeFrame
    from finirace.outcome import RunOutcome
    from finirace.stress import signature as sig

    frames = [NativeFrame("wrong::Exported()", library="/x/libduck.so", guess=True),
              NativeFrame("__GI_raise", library="/lib/libc.so.6", guess=True),
              NativeFrame("duck::Real::run()", library="/x/libduck.so"), NativeFrame("main")]
    assert sig.signature(RunOutcome(RunKind.CRASH, signal="SIGSEGV"), frames) == (
        "crash SIGSEGV | libduck.so+? | duck::Real::run | main")
