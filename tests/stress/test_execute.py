"""A hung run's gdb frames are named from the libraries' symbol tables, a guess marked and kept out of the signature."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from finirace.outcome import RunKind
from finirace.stress.execute import RunSpec, execute_run
from finirace.stress.perturb import Perturbation

# An exported symbol of size 0 (``api_marker``) right before code that has no
# symbol (``spin``, where the run hangs): gdb names the hung frame by the
# nearest symbol before it, ``api_marker``, which is not the function that
# runs; the library's symbol table says the address is past every symbol.
HANG_S = """
    .text
    .globl api_marker
    .type api_marker, @function
api_marker:
    ret
spin:
    jmp spin
    .globl api_wait
    .type api_wait, @function
api_wait:
    sub $8, %rsp
    call spin
    add $8, %rsp
    ret
    .size api_wait, .-api_wait
    .section .note.GNU-stack,"",@progbits
"""


@pytest.mark.skipif(shutil.which("gdb") is None or shutil.which("gcc") is None, reason="needs gdb and gcc")
@pytest.mark.parametrize("detector", ["plain", "gdb"])
def test_a_hang_is_not_named_by_the_nearest_symbol_gdb_guessed(tmp_path, detector):
    src = tmp_path / "hang.S"
    src.write_text(HANG_S)
    lib = tmp_path / "libhang.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-s", str(src), "-o", str(lib)], check=True)
    argv = (sys.executable, "-c", f"import ctypes; ctypes.CDLL({str(lib)!r}).api_wait()")
    record = execute_run(RunSpec(argv, index=0, seed=1, timeout=3, perturbation=Perturbation(level="none"), detector=detector))
    assert record.outcome.kind is RunKind.TIMEOUT
    assert "api_marker" in record.native_backtrace  # gdb's own text, as it printed it, is kept
    frames = record.signature.split(" | ")
    assert frames[:3] == ["timeout", "libhang.so+?", "api_wait"], record.signature


@pytest.mark.skipif(shutil.which("gdb") is None or shutil.which("g++") is None, reason="needs gdb and g++")
@pytest.mark.parametrize("which", ["full", "stripped"])
def test_a_crash_has_one_signature_under_plain_and_gdb(libraries, which):
    """gdb's frames are named from the stopped process's mappings by the shim's own code, not by gdb."""
    argv = (sys.executable, str(libraries["prog"]), str(libraries[which]))
    records = {det: execute_run(RunSpec(argv, index=0, seed=1, timeout=60, perturbation=Perturbation(level="none"),
                                        detector=det)) for det in ("plain", "gdb")}
    for det, record in records.items():
        assert record.outcome.kind is RunKind.CRASH and record.outcome.signal == "SIGSEGV", (det, record.stderr_tail)
    assert records["plain"].signature == records["gdb"].signature, {d: r.signature for d, r in records.items()}
    if which == "full":  # hidden functions, named for sure from .symtab
        assert records["gdb"].signature == ("crash SIGSEGV | engine::compute_kernel | engine::Pipeline::execute"
                                            " | engine::Pipeline_run")
    else:  # gdb printed the nearest exported symbol, a wrong name that the signature must not take
        assert "engine_marker () from" in records["gdb"].native_backtrace  # gdb's text is kept, below
        named = records["gdb"].native_backtrace.split("gdb:")[0]
        assert "named from the process's mappings" in named and "engine::Connection_query" in named
        assert "engine_marker (guess: nearest symbol)" in named  # said to be a guess, as the signature treats it
        # the hidden functions are one unknown frame (repeats show once), then the exported ones below them
        assert records["gdb"].signature == ("crash SIGSEGV | libengine_stripped.so+? | engine::Connection_query"
                                            " | start_query")
