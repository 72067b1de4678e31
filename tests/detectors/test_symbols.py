"""Native names from real libraries' symbol tables: sure inside a symbol, a guess past every symbol's end."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from finirace.detectors import symbols

SRC = r"""
#include <pthread.h>
namespace store { pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER; }
extern "C" __attribute__((visibility("default"))) int api_entry(int n) { return n + 1; }
namespace store { __attribute__((noinline)) int hidden_work(int n) { return n * 3 + api_entry(n); } }
extern "C" __attribute__((visibility("default"))) int api_call(int n) { return store::hidden_work(n); }
extern "C" __attribute__((visibility("default"))) int *api_make(void) { return new int(1); }
"""


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    if not shutil.which("g++"):
        pytest.skip("needs g++")
    d = tmp_path_factory.mktemp("syms")
    (d / "s.cpp").write_text(SRC)
    out = {}
    for name, extra in (("full", []), ("stripped", ["-s"])):
        out[name] = d / f"libs_{name}.so"
        subprocess.run(["g++", "-O1", "-fPIC", "-shared", "-fvisibility=hidden", "-fno-toplevel-reorder", *extra,
                        "-o", str(out[name]), "s.cpp"], cwd=d, check=True)
    return out


def _offset(lib, name):
    nm = subprocess.run(["nm", str(lib)], capture_output=True, text=True, check=True).stdout
    return next(int(line.split()[0], 16) for line in nm.splitlines() if line.endswith(" " + name))


def test_local_symbols_are_sure_and_demangled_and_a_stripped_library_only_guesses(libs):
    hidden = _offset(libs["full"], "_ZN5store11hidden_workEi") + 4
    sym = symbols.symbolize(str(libs["full"]), hidden, exact=True)
    assert (sym.name, sym.mangled, sym.language, sym.guess) == ("store::hidden_work(int)", "_ZN5store11hidden_workEi", "c++", False)
    # the same code stripped: only .dynsym is left, and the nearest exported function before it is a guess
    guessed = symbols.symbolize(str(libs["stripped"]), hidden, exact=True)
    assert guessed.name == "api_entry" and guessed.guess
    entry = symbols.symbolize(str(libs["stripped"]), _offset(libs["full"], "api_call") + 2, exact=True)
    assert entry.name == "api_call" and not entry.guess
    assert symbols.library(str(libs["stripped"])).language == "c++"  # it imports operator new
    lib = symbols.library(str(libs["full"]))
    assert symbols.demangle([lib.data_at(_offset(libs["full"], "_ZN5store13registry_lockE"))]) == ["store::registry_lock"]


def test_a_stripped_rust_library_is_rust(tmp_path):
    if not shutil.which("rustc"):
        pytest.skip("needs rustc")
    (tmp_path / "lib.rs").write_text('#[no_mangle]\npub extern "C" fn total(n: u64) -> u64 { (0..n).map(|i| i * i).sum() }\n'
                                     '#[no_mangle]\npub extern "C" fn check(v: &[u8; 4], i: usize) -> u8 { v[i] }\n')
    lib = tmp_path / "librs.so"
    subprocess.run(["rustc", "--crate-type", "cdylib", "-O", "-C", "strip=symbols", "lib.rs", "-o", str(lib)],
                   cwd=tmp_path, check=True, capture_output=True)
    assert symbols.library(str(lib)).language == "rust"


def test_languages_from_mangled_names():
    assert symbols.language_of("_ZN6duckdb18DuckDBPyConnection12CheckSignalsEv") == "c++"
    assert symbols.language_of("_ZN6polars4core5frame17h0123456789abcdefE") == "rust"
    assert symbols.language_of("_RNvCs1234_7mycrate3foo") == "rust"
    assert symbols.language_of("_Py_RunGC") == "c" and symbols.language_of("zlib_compress") == "c"
    assert symbols.demangle(["_ZN6polars4core5frame17h0123456789abcdefE"]) == ["polars::core::frame"]


def test_an_address_is_located_in_its_library_by_the_memory_map():
    maps = symbols.parse_maps(
        "7f0000000000-7f0000001000 r--p 00000000 08:01 1 /x/libfoo.so\n"
        "7f0000001000-7f0000005000 r-xp 00001000 08:01 1 /x/libfoo.so\n"
        "7f0000010000-7f0000011000 rw-p 00000000 00:00 0 \n")
    assert symbols.locate(maps, 0x7F0000001234) == ("/x/libfoo.so", 0x1234)
    assert symbols.locate(maps, 0x7F0000010010) is None  # anonymous: no file to name it from
