"""The step -> source-line map is checked against every installed interpreter's own line table."""

from __future__ import annotations

import pytest

from finirace.lab import linemap

from .conftest import RELEASES, interpreter

MAPPED = sorted(v for v in RELEASES if linemap.load(v) is not None)


def test_every_installed_release_has_a_line_map():
    assert MAPPED == sorted(RELEASES)


@pytest.mark.parametrize("version", MAPPED, ids=lambda v: f"{v[0]}.{v[1]}")
def test_every_mapped_place_resolves_in_its_function(version):
    interp = interpreter(version)
    lines = linemap.load(version)
    assert lines.checked == interp.version_text  # the lines were read from this very release
    lib = linemap.library_of(interp)
    assert lib is not None and lib.exists()
    assert linemap.check(lines, lib) == {}
    assert lines.places  # a map that maps nothing checks nothing


def test_a_line_that_no_longer_resolves_fails_the_check():
    interp = interpreter((3, 10))
    lib = linemap.library_of(interp)
    real = linemap.load((3, 10)).places["take_gil.tstate"]
    moved = linemap.LineMap((3, 10), "3.10.13", {
        "gone": linemap.Place("gone", "Python/ceval_gil.h:99999", "take_gil"),
        "elsewhere": linemap.Place("elsewhere", real.at, "drop_gil"),
        "fine": real,
    })
    problems = linemap.check(moved, lib)
    assert set(problems) == {"gone", "elsewhere"}
    assert "does not resolve" in problems["gone"]
    assert "take_gil" in problems["elsewhere"] and "not in drop_gil" in problems["elsewhere"]


def test_a_step_without_a_line_says_why():
    lines = linemap.load((3, 10))
    assert lines.why_missing("take_gil.tstate") is None
    assert "no line is mapped for PyEval_InitThreads" in lines.why_missing("PyEval_InitThreads")
