"""The generated program: escaping, C++ for noexcept, orderings, markers."""

from __future__ import annotations

import subprocess

from finirace.lab import build, codegen
from finirace.outcome import StepRef
from finirace.scenario.format import loads

from .conftest import interpreter, scenario

HOSTILE = 'x = "*/ \\" \\\\ ??/ \\n é"'  # quotes, backslashes, a comment end, a trigraph, unicode


def test_c_string_escapes_everything_but_plain_ascii():
    lit = codegen.c_string('a"b\\c?\n\u00e9*/')
    assert lit == '"a\\042b\\134c\\077\\012\\303\\251*/"'


def test_c_comment_cannot_end_the_comment():
    assert "*/" not in codegen.c_comment("evil */ int x; /* more\n")
    assert "\n" not in codegen.c_comment("two\nlines")


def test_python_code_reaches_the_interpreter_byte_for_byte(tmp_path):
    out = tmp_path / "seen.txt"
    code = f"open({str(out)!r}, 'w', encoding='utf-8').write(repr({HOSTILE!r}))"
    text = (
        'name = "hostile"\n[threads]\nmain = ["init", ' + _toml_str("python " + code) + ', "finalize"]\n'
    )
    sc = loads(text)
    prog = codegen.generate(sc)
    assert "*/ int" not in prog.source
    interp = interpreter((3, 11))
    built = build.build(prog, interp)
    r = subprocess.run([str(built.binary)], env=interp.run_env(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8") == repr(HOSTILE)


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def test_each_step_is_commented_with_its_scenario_line():
    sc = scenario("seed-join")
    prog = codegen.generate(sc)
    for t in sc.threads:
        for s in t.steps:
            assert f"/* {t.name}[{s.index}] {s.text}, line {s.line} */" in prog.source
    assert prog.language == "c" and prog.suffix == ".c"
    assert "sleep(" not in prog.source.replace("nanosleep", "")  # orderings are pipes, never sleeps


def test_noexcept_makes_cxx_with_the_call_in_a_noexcept_frame():
    prog = codegen.generate(scenario("cxx-noexcept"))
    assert prog.language == "c++" and prog.suffix == ".cpp"
    assert "FR_NOEXCEPT(PyEval_RestoreThread(ts);)" in prog.source


def test_guard_steps_are_comments_before_3_15_and_bare_block_makes_no_call():
    sc = loads('name = "g"\n[threads]\nmain = ["init", "guard", "block", "unguard", "finalize"]\n')
    src = codegen.generate(sc).source
    body = src[src.index("static void *fr_thread_0(void *unused)\n{"):]
    assert "PEP 788 guards exist from 3.15 on" in body
    assert "a blocking call that returns at once" in body
    assert "PyInterpreterGuard_New(" not in body
    # the comment names PEP 788's API as merged
    assert "PyInterpreterGuard_FromView" in body and "PyInterpreterGuard_Close" in body


def test_orderings_add_a_pipe_barrier_between_the_two_steps():
    sc = scenario("seed-join")
    o = codegen.Ordering(StepRef("main", 5, "finalize"), StepRef("worker", 4, "restore"), done=True)
    src = codegen.generate(sc, (o,)).source
    assert "static int fr_order_0[2];" in src
    main_body = src[src.index("static void *fr_thread_0(void *unused)\n{"):src.index("/* thread worker */")]
    after_finalize = main_body[main_body.index("Py_FinalizeEx();"):]
    assert "fr_write_bytes(fr_order_0[1], 1)" in after_finalize
    worker_body = src[src.index("/* thread worker */"):]
    assert worker_body.index("fr_read_byte(fr_order_0[0])") < worker_body.index("PyEval_RestoreThread(ts);")


def test_step_lines_map_back_to_steps():
    prog = codegen.generate(scenario("seed-join"))
    lines = prog.source.splitlines()
    for line, ref in prog.step_lines:
        assert f"{ref.thread}[{ref.index}]" in lines[line - 3] or f"{ref.thread}[{ref.index}]" in lines[line - 4]
        assert prog.step_at_line(line) == ref
