"""The C of each step kind: one entry per kind of the vocabulary, and it compiles."""

from __future__ import annotations

import pytest

from finirace.lab import build, codegen
from finirace.lab.statements import C_STEPS, Names, statement
from finirace.scenario import STEP_KINDS, Arg, loads

from .conftest import interpreter

# one scenario that uses every step kind (the test below says which one it lacks)
EVERY = loads('''name = "every"
[threads]
main = ["init", "init_threads", "fr_setup", "python \\"x = 1\\"", "new_interp", "end_interp", "save", "spawn w", "lock L",
        "signal go", "unlock L", "wait done", "join w", "restore", "start_thread p", "python_thread q", "guard", "unguard",
        "new_tstate", "clear_tstate", "delete_tstate", "block", "exit_guard", "exit_guard_park", "finalize"]
w = ["noexcept ensure", "lock L", "unlock L", "block until go", "release", "fr_guard", "fr_ensure", "fr_save",
     "noexcept fr_restore", "fr_release", "fr_unguard", "new_tstate_in main", "signal done"]
p = ["save", "restore", "python \\"pass\\"", "fr_save", "fr_restore"]
q = ["python \\"x = 2\\""]
''')
NAMES = Names(threads={"main": 0, "w": 1}, events={"go": 0}, locks={"L": 0}, waiters={"go": 2})
ARG = {Arg.NONE: None, Arg.THREAD: "w", Arg.EVENT: "go", Arg.LOCK: "L", Arg.CODE: "x = 1", Arg.OPTIONAL_UNTIL: "go"}


def test_every_step_kind_has_its_c_and_nothing_else_has():
    assert set(C_STEPS) == set(STEP_KINDS)


@pytest.mark.parametrize("kind", list(STEP_KINDS))
def test_each_entry_names_its_call_and_writes_one_statement(kind):
    entry = C_STEPS[kind]
    assert entry.calls.strip()
    c = statement(NAMES, kind, ARG[STEP_KINDS[kind].arg])
    assert c.strip() and "\n" not in c
    assert c.endswith(";") or (c.startswith("/*") and c.endswith("*/")) or c.endswith("*/")


def test_a_program_with_every_step_kind_builds(tmp_path):
    used = {s.kind for t in EVERY.threads for s in t.steps}
    assert used == set(STEP_KINDS), f"add the missing kinds to EVERY: {sorted(set(STEP_KINDS) - used)}"
    prog = codegen.generate(EVERY)
    assert prog.language == "c++"
    built = build.build(prog, interpreter((3, 11)))
    assert built.binary.exists()


def test_sub_interpreter_steps_run_as_each_era_predicts():
    """new_interp's C on real interpreters: a sub-interpreter left at Py_FinalizeEx is
    leaked by 3.6 (the worker runs on in it), a fatal error on 3.7-3.12, ended by 3.13."""
    from finirace import conformance
    from finirace.lab import session

    from .conftest import scenario

    sc = scenario("sub-interp-at-exit")
    interps = [interpreter(v) for v in ((3, 6), (3, 12), (3, 13))]
    runs = session.execute(session.plan([sc], interps, ["plain"]), workers=2, timeout=10.0)
    got = {}
    for run, i in zip(runs, interps):
        cmp = conformance.grade(run, conformance.predict(sc, i))
        assert cmp.match == conformance.YES, (i.version, cmp.why, run.outcome.label)
        got[cmp.predicted.variant] = (run.outcome.label, run.outcome.reason)
    assert got["legacy36"][0] == "clean"
    assert got["exit312"] == ("abort", "Fatal Python error: PyInterpreterState_Delete: remaining subinterpreters")
    assert got["exit313"][0] == "clean, w exited"
