"""Exact schedules on real interpreters: gdb holds threads at the model's lines.

The worked case (docs/exact-schedules.md): ``seed`` under the exit era,
schedule ``v1.a4b10a8b``.  The worker is stopped in ``take_gil`` after its
finalizing test, ``main`` finalizes until ``_PyGILState_Fini`` (after
``_PyThreadState_DeleteExcept`` freed the worker's state), then the worker reads
``tstate->interp`` from the freed block: with ``PYTHONMALLOC=debug`` it faults
in ``take_gil`` on every release 3.9–3.13.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from finirace import conformance
from finirace.lab import build, codegen, exact, linemap
from finirace.outcome import RunKind
from finirace.scenario import catalog

from .conftest import DEBUG_311, interpreter

TOKEN = "v1.a4b10a8b"
EXIT_ERA = [(3, 9), (3, 10), (3, 11), (3, 12), (3, 13)]


def _seed(interp=None):
    """The seed and the worked schedule, projected in the interpreter's own era (3.9/3.10: exit)."""
    sc = catalog.resolve("seed")
    return sc, conformance.project_schedule(sc, conformance.variant_for(interp) if interp else "exit", TOKEN)


def _exact_run(version, detector="pymalloc-debug"):
    interp = interpreter(version)
    sc, projection = _seed(interp)
    program = codegen.generate(sc)
    built = build.build(program, interp)
    lines = linemap.load(version)
    assert exact.missing(projection.exact, lines, interp) is None
    run = exact.run(program, built, interp, projection.exact, lines, detector, timeout=10)
    return run, conformance.grade(run, projection.prediction)


def test_the_plan_holds_the_worker_in_take_gil_and_main_before_gilstate_fini():
    _, projection = _seed()
    plan = projection.exact
    stops = [(s.thread, s.stop.step.index if s.stop else None, s.stop.label if s.stop else None) for s in plan.segments]
    assert stops == [("main", 3, None), ("worker", 4, "take_gil.tstate"), ("main", 5, "_PyGILState_Fini"),
                     ("worker", None, None)]
    assert plan.segments[1].stop.arm  # the worker's first take_gil (in ensure) must not stop it


@pytest.mark.parametrize("version", EXIT_ERA, ids=lambda v: f"{v[0]}.{v[1]}")
def test_take_gil_reads_the_freed_thread_state_on_every_exit_era_release(version):
    run, graded = _exact_run(version)
    assert run.note.startswith("exact: 3 of 3 places"), run.note
    assert run.outcome.kind is RunKind.CRASH and run.outcome.signal == "SIGSEGV"
    assert run.outcome.reason == "take_gil"
    worker = run.outcome.thread("worker")
    assert worker.last_step.text == "restore" and worker.where == "take_gil"
    assert graded.match == conformance.YES
    assert "freed by _PyThreadState_DeleteExcept at main[5] finalize" in graded.why


def test_ten_runs_out_of_ten_on_3_10():
    outcomes = [_exact_run((3, 10))[0] for _ in range(10)]
    assert [(r.outcome.kind, r.outcome.reason) for r in outcomes] == [(RunKind.CRASH, "take_gil")] * 10
    assert all(r.note.startswith("exact") for r in outcomes)


def test_without_the_debug_allocator_the_same_order_confirms_nothing():
    # glibc's free leaves tstate->interp as it was, or not: the run may pass or crash
    # anywhere (pthread_mutex_lock on garbage), so plain cannot grade it yes or no
    run, graded = _exact_run((3, 10), detector="plain")
    assert run.note.startswith("exact")
    assert graded.match == conformance.WEAK


def test_a_plan_that_cannot_be_followed_is_a_finding(tmp_path):
    sc, projection = _seed()
    interp = interpreter((3, 10))
    lines = linemap.load((3, 10))
    # a place the worker never reaches in that step: drop_gil is not called inside restore here
    wrong = linemap.LineMap((3, 10), lines.checked, {**lines.places, "take_gil.tstate": linemap.Place(
        "take_gil.tstate", "PyThreadState_Clear", "PyThreadState_Clear")})
    program = codegen.generate(sc)
    run = exact.run(program, build.build(program, interp), interp, projection.exact, wrong, timeout=6)
    assert run.note.startswith("not exact"), run.note
    graded = conformance.grade(run, projection.prediction)
    assert graded.match == conformance.NO and "finding" in graded.why


def test_emitted_program_and_gdb_script_reproduce_without_finirace(tmp_path):
    interp = interpreter((3, 10))
    out = subprocess.run([sys.executable, "-m", "finirace", "lab", "seed", "--schedule", TOKEN, "--python", interp.path,
                          "--emit-c", str(tmp_path / "seed.c")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    script = (tmp_path / "seed.gdb.py").read_text()
    assert "take_gil.tstate" in script and "Python/ceval_gil.h:232" in script
    assert "import finirace" not in script
    cc = ["cc", "-g", "-O0", "-o", str(tmp_path / "seed"), str(tmp_path / "seed.c"), *interp.cflags, *interp.ldflags,
          "-lpthread"]
    subprocess.run(cc, check=True, capture_output=True, timeout=120)
    run_env = {**interp.run_env()}
    done = subprocess.run(["gdb", "-nx", "-batch", "-x", str(tmp_path / "seed.gdb.py"), str(tmp_path / "seed")],
                          capture_output=True, text=True, env=run_env, cwd=tmp_path, timeout=60)
    assert "==finirace-exact== exact: 3 place(s) reached" in done.stdout
    assert "received signal SIGSEGV" in done.stdout and "take_gil" in done.stdout.split("SIGSEGV", 1)[1][:400]


@pytest.mark.slow
@pytest.mark.parametrize("version", EXIT_ERA, ids=lambda v: f"{v[0]}.{v[1]}")
def test_memcheck_names_the_read_and_who_freed_the_block_on_every_exit_era_release(version):
    # valgrind's gdbserver resumes every thread: held threads are parked in the program
    run, graded = _exact_run(version, detector="valgrind")
    assert run.note.startswith("exact: 3 of 3 places"), run.note
    assert run.outcome.kind is RunKind.MEMORY_ERROR
    error = run.outcome.memory_errors[0]
    assert error.kind == "Invalid read" and error.access.function == "take_gil"
    assert str(error.access.step) == "worker[4] restore"
    assert str(error.freed_by.step) == "main[5] finalize"
    # 3.13 split _PyThreadState_DeleteExcept into _PyThreadState_RemoveExcept and _PyThreadState_DeleteList
    freer = "_PyThreadState_DeleteList" if version >= (3, 13) else "_PyThreadState_DeleteExcept"
    assert any(freer in f for f in (error.freed_by.function, *error.freed_by.frames))
    assert str(error.allocated_by.step) == "worker[0] ensure"
    assert graded.match == conformance.YES


def test_finalization_does_not_join_a_thread_that_started_one():
    # the program imports threading in main at init, as a Python program would: the helper that
    # starts the child is not threading._main_thread, so wait_for_thread_shutdown does not join it
    # and main finalizes while the helper waits in start(), as the model has it
    interp = interpreter((3, 10))
    sc = catalog.resolve("spawn-during-fini")
    from finirace.explore import check

    token = next(cx.schedule for cx in check(sc, "exit").counterexamples
                 if cx.outcome.label == "clean, helper hung, child exited")
    projection = conformance.project_schedule(sc, "exit", token)
    program = codegen.generate(sc)
    assert "fr_import_threading();" in next(ln for ln in program.source.splitlines() if "Py_Initialize()" in ln)
    lines = linemap.for_interpreter(interp)
    run = exact.run(program, build.build(program, interp), interp, projection.exact, lines, "plain", timeout=10)
    assert run.note.startswith("exact"), run.note
    assert conformance.grade(run, projection.prediction).match == conformance.YES
    assert run.outcome.thread("helper").outcome.value == "hung"


def test_a_program_without_python_threads_imports_nothing_at_init():
    assert "fr_import_threading" not in codegen.generate(catalog.resolve("seed")).source


@pytest.mark.parametrize("path", ["/usr/bin/python3.11", str(DEBUG_311)], ids=["3.11.2", "3.11.2-debug"])
def test_debians_builds_follow_the_schedule_with_lines_of_their_own(path):
    # their own line maps (lines/3.11.2.toml, 3.11.2-debug.toml); the debug build's
    # is_tstate_valid assertion is its own report of the read of the freed state
    from pathlib import Path

    from finirace.lab.interpreters import probe

    if not Path(path).exists():
        pytest.skip(f"{path} is not installed (apt-get install python3.11-dbg libpython3.11-dbg)")
    interp = probe(path)
    sc, projection = _seed(interp)
    program = codegen.generate(sc)
    lines = linemap.for_interpreter(interp)
    assert lines.checked == interp.label and exact.missing(projection.exact, lines, interp) is None
    run = exact.run(program, build.build(program, interp), interp, projection.exact, lines, timeout=10)
    graded = conformance.grade(run, projection.prediction)
    assert run.note.startswith("exact: 3 of 3 places"), run.note
    assert graded.match == conformance.YES, graded.why
    if interp.debug:
        assert run.outcome.kind is RunKind.ABORT and "_PyMem_IsPtrFreed(tstate->interp)" in run.outcome.reason
    else:
        assert run.outcome.kind is RunKind.CRASH and run.outcome.reason == "take_gil"


def test_on_3_6_a_finalizer_without_the_gil_crashes_in_module_teardown_as_the_model_says():
    # legacy36: main never took a GIL (3.6 makes none at init); the helper's ensure makes one and
    # its start() sets the process-wide current state to NULL: main's flush_std_files reads it
    from finirace.explore import check

    interp = interpreter((3, 6))
    sc = catalog.resolve("spawn-during-fini")
    found = [cx for cx in check(sc, "legacy36").counterexamples if cx.outcome.label == "crash, helper exited"]
    assert found and found[0].outcome.reason == "flush_std_files"
    projection = conformance.project_schedule(sc, "legacy36", found[0].schedule)
    program = codegen.generate(sc)
    lines = linemap.for_interpreter(interp)
    run = exact.run(program, build.build(program, interp), interp, projection.exact, lines, "plain", timeout=10)
    assert run.note.startswith("exact"), run.note
    assert run.outcome.kind is RunKind.CRASH
    assert conformance.grade(run, projection.prediction).match == conformance.YES
