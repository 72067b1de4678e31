"""The step -> source-line map is checked against every installed interpreter's own line table."""

from __future__ import annotations

from pathlib import Path

import pytest

from finirace.lab import build, codegen, linemap

from .conftest import DEBUG_311, RELEASES, interpreter, scenario

MAPPED = sorted(v for v in RELEASES if linemap.load(v) is not None)
DEBIAN_311 = [Path("/usr/bin/python3.11"), DEBUG_311]  # 3.11.2, release and debug: lines of their own


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


@pytest.mark.parametrize("path", DEBIAN_311, ids=lambda p: p.name)
def test_a_build_with_lines_of_its_own_has_its_own_map(path):
    # Debian's 3.11.2 beside pyenv's 3.11.7: take_gil's lines are 19 further down
    # (tstate_must_exit still inline), and the debug build reads tstate->interp in an assert
    from finirace.lab.interpreters import probe

    if not path.exists():
        pytest.skip(f"{path} is not installed (apt-get install python3.11-dbg libpython3.11-dbg)")
    interp = probe(path)
    lines = linemap.for_interpreter(interp)
    assert lines.checked == interp.label != linemap.load((3, 11)).checked
    lib = linemap.library_of(interp)
    assert lib is not None and ("3.11d" in lib.name) == interp.debug
    assert linemap.check(lines, lib) == {}
    assert lines.places["take_gil.tstate"].at != linemap.load((3, 11)).places["take_gil.tstate"].at


def test_the_programs_own_places_resolve_in_a_built_program():
    # finirace_guard.h and exit_guard.c are compiled into the lab program: gdb stops there
    # as in libpython, on every version alike (the same header, built -O0)
    interp = interpreter((3, 10))
    lines = linemap.load((3, 10))
    own = {label for label, p in lines.places.items() if p.target == linemap.PROGRAM}
    assert {"finirace_enter_.gate", "finirace_drain_.entering", "bring_to_safe_point"} <= own
    program = codegen.generate(scenario("own-code-places"))
    binary = build.build(program, interp).binary
    assert linemap.check(lines, binary, target=linemap.PROGRAM) == {}
    # a header line that no longer holds its statement fails, as a line that does not resolve
    gate = lines.places["finirace_enter_.gate"]
    moved = linemap.LineMap((3, 10), lines.checked, {
        "shifted": linemap.Place("shifted", gate.at, gate.function, target=linemap.PROGRAM, holds="return 0;"),
        "gone": linemap.Place("gone", "finirace_guard.h:99999", gate.function, target=linemap.PROGRAM),
        "fine": gate,
    })
    problems = linemap.check(moved, binary, target=linemap.PROGRAM)
    assert set(problems) == {"shifted", "gone"}
    assert "no longer holds 'return 0;'" in problems["shifted"]
