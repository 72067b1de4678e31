"""Many lab runs at once: a program that does not build is a run of its own outcome, and the others still run."""

from __future__ import annotations

import dataclasses

from finirace.lab import session
from finirace.outcome import RunKind
from .conftest import interpreter, scenario


def test_a_program_that_does_not_build_is_a_build_failed_run_not_a_clean_one():
    good = interpreter((3, 11))
    # the same interpreter with a flag that makes gcc fail: a real compiler error, not a mock
    broken = dataclasses.replace(good, path=good.path + "-broken", cflags=(*good.cflags, "-include", "/no/such/header.h"))
    sc = scenario("seed-hang")
    runs = session.execute(session.plan([sc], [good, broken], ["plain"]), workers=2, timeout=10)
    ok, failed = runs
    assert ok.outcome.kind is RunKind.CLEAN and ok.python == good.path
    assert failed.outcome.kind is RunKind.BUILD_FAILED and failed.outcome.label == "build-failed"
    assert not failed.skipped and "does not build for 3.11.7" in failed.outcome.reason
    assert "/no/such/header.h" in failed.outcome.reason and "\n" not in failed.outcome.reason
