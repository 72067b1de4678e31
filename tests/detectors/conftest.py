"""Small C/C++ programs compiled for real, once per session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

UAF_C = r"""
#include <stdlib.h>
#include <stdio.h>
struct tstate { long words[16]; };
__attribute__((noinline)) struct tstate *new_threadstate(void) { return calloc(1, sizeof(struct tstate)); }
__attribute__((noinline)) void zapthreads(struct tstate *t) { free(t); }
__attribute__((noinline)) long take_gil(struct tstate *t) { return t->words[2]; }
int main(void) {
    struct tstate *t = new_threadstate();
    zapthreads(t);
    printf("%ld\n", take_gil(t));
    return 0;
}
"""

# a use of a freed block of 2,272 bytes: valgrind writes the size with a thousands separator
BIG_UAF_C = r"""
#include <stdlib.h>
#include <stdio.h>
struct big { long words[284]; };
__attribute__((noinline)) struct big *make_big(void) { return malloc(sizeof(struct big)); }
__attribute__((noinline)) long use_big(struct big *b) { return b->words[1]; }
int main(void) { struct big *b = make_big(); free(b); printf("%ld\n", use_big(b)); return 0; }
"""

# a field read through a NULL pointer, 0x28 bytes in (as ensure-after's new_threadstate does)
NULL_READ_C = r"""
#include <stdio.h>
struct interp { long words[5]; long runtime; };
__attribute__((noinline)) long new_threadstate(struct interp *i) { return i->runtime; }
int main(void) { struct interp *volatile i = NULL; printf("%ld\n", new_threadstate(i)); return 0; }
"""

TERMINATE_CC = r"""
#include <thread>
int main() { std::thread t([] { throw 1; }); t.join(); }
"""

ASSERT_C = r"""
#include <assert.h>
int main(void) { int finalizing = 1; assert(finalizing == 0); return 0; }
"""


def _build(tmp: Path, name: str, source: str, compiler: str, *flags: str) -> Path:
    src = tmp / (name + (".cc" if compiler == "g++" else ".c"))
    src.write_text(source)
    out = tmp / name
    subprocess.run([compiler, "-g", "-O0", *flags, str(src), "-o", str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def programs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("detector-programs")
    return {
        "uaf": _build(tmp, "uaf", UAF_C, "gcc"),
        "terminate": _build(tmp, "terminate", TERMINATE_CC, "g++", "-pthread"),
        "assert": _build(tmp, "assert", ASSERT_C, "gcc"),
        "big-uaf": _build(tmp, "big-uaf", BIG_UAF_C, "gcc"),
        "null-read": _build(tmp, "null-read", NULL_READ_C, "gcc"),
    }
