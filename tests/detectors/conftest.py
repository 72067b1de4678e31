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
    }
