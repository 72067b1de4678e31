"""The build cache and compile errors, with the real gcc and a real interpreter."""

from __future__ import annotations

import dataclasses

import pytest

from finirace.lab import build, codegen
from finirace.lab.interpreters import Interpreter

from .conftest import interpreter, scenario


def test_second_build_is_a_cache_hit_and_a_new_source_is_a_new_key(tmp_path):
    interp = interpreter((3, 11))
    prog = codegen.generate(scenario("seed-hang"))
    first = build.build(prog, interp, root=tmp_path)
    again = build.build(prog, interp, root=tmp_path)
    assert not first.cached and again.cached and first.binary == again.binary
    assert first.binary.is_file() and first.source.read_text() == prog.source
    other = build.build(codegen.generate(scenario("seed-join")), interp, root=tmp_path)
    assert other.key != first.key and not other.cached


def test_the_key_depends_on_the_interpreter():
    prog = codegen.generate(scenario("seed-hang"))
    assert build.cache_key(prog, interpreter((3, 11))) != build.cache_key(prog, interpreter((3, 12)))


def test_a_compile_error_names_the_scenario_step(tmp_path):
    interp = interpreter((3, 11))
    prog = codegen.generate(scenario("seed-hang"))
    broken = dataclasses.replace(prog, source=prog.source.replace("Py_FinalizeEx();", "Py_FinalizeEx(;"))
    with pytest.raises(build.BuildError) as err:
        build.build(broken, interp, root=tmp_path)
    msg = str(err.value)
    assert "step main[5] finalize" in msg and "3.11.7" in msg and "\n" not in msg


def test_an_interpreter_that_cannot_embed_is_refused_with_its_reason(tmp_path):
    prog = codegen.generate(scenario("seed-hang"))
    with pytest.raises(build.BuildError, match="no shared libpython"):
        build.build(prog, Interpreter("/x/python3", reason="no shared libpython (built without --enable-shared)"),
                    root=tmp_path)
