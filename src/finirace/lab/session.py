"""Many lab runs at once: every scenario × interpreter × detector, repeated, on N workers.

Why threads: each job spends its time waiting on a child process (gcc, the
program, valgrind), so a thread pool of ``jobs`` workers keeps that many
processes busy without pickling anything.  Each program is built once per
interpreter (the cache makes a second build a lookup) before its runs start.
Results are returned in a stable order whatever order they finished in; a
build error becomes a run whose outcome is ``build-failed`` with the
compiler's words as its reason, never an exception that stops the others.

``on_run`` is called in the calling thread the moment each run ends, in the
order they end: that is where ``finirace lab`` grades and stores a run, so a
sweep killed half-way keeps every run it finished (and the store's SQLite
connection stays in the thread that opened it).  When the callback raises,
runs not yet started are cancelled and the error goes on up.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable

from finirace.lab import build as build_mod
from finirace.lab import exact, linemap, runner
from finirace.lab.codegen import Ordering, Program, generate
from finirace.lab.exact import ExactPlan
from finirace.lab.interpreters import Interpreter
from finirace.outcome import RunKind, RunOutcome
from finirace.scenario.format import Scenario

ProgressFn = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class Job:
    """What one run is: scenario, interpreter, detector, and which repetition."""

    scenario: Scenario
    interpreter: Interpreter
    detector: str
    repetition: int = 0


def plan(scenarios: list[Scenario], interps: list[Interpreter], dets: list[str], repeat: int = 1) -> list[Job]:
    return [Job(s, i, d, r) for s in scenarios for i in interps for d in dets for r in range(repeat)]


def execute(jobs: list[Job], *, workers: int = 2, timeout: float = runner.DEFAULT_TIMEOUT,
            orderings: dict[str, tuple[Ordering, ...]] | None = None,
            progress: ProgressFn | None = None,
            on_run: Callable[[int, Job, runner.LabRun], None] | None = None,
            exact_plans: dict[tuple[str, str], ExactPlan] | None = None) -> list[runner.LabRun]:
    """Run every job; results in the order of ``jobs``; ``on_run(n, jobs[n], run)`` as each one ends.

    ``exact_plans`` (by scenario name and interpreter path): run those jobs under
    gdb following the plan (:mod:`finirace.lab.exact`) on the program without
    the schedule's pipes, when the interpreter's line map has every place and
    the detector can hold a thread; otherwise ordered by pipes, and the run's
    note says why it is only approximated.
    """
    orderings = orderings or {}
    exact_plans = exact_plans or {}
    # keyed by the scenario object: two files may share a name
    programs: dict[int, Program] = {}
    for job in jobs:
        if id(job.scenario) not in programs:
            programs[id(job.scenario)] = generate(job.scenario, orderings.get(job.scenario.name, ()))
    builds: dict[tuple[int, str], build_mod.Built | str] = {}
    pairs = list(dict.fromkeys((id(j.scenario), j.interpreter) for j in jobs))

    unordered: dict[int, Program] = {}
    why_not: dict[tuple[str, str, str], str | None] = {}
    for job in jobs:
        plan = exact_plans.get((job.scenario.name, job.interpreter.path))
        if plan is None:
            continue
        why = exact.missing(plan, linemap.for_interpreter(job.interpreter), job.interpreter)
        if why is None and job.detector not in exact.EXACT_DETECTORS:
            why = (f"the {job.detector} detector cannot hold a thread at a line (valgrind's gdbserver resumes "
                   "every thread on continue)")
        why_not[(job.scenario.name, job.interpreter.path, job.detector)] = why
        if why is None and id(job.scenario) not in unordered:
            unordered[id(job.scenario)] = generate(job.scenario)
    pairs += [(-1 - k, i) for k, i in pairs if k in unordered]

    def do_build(pair: tuple[int, Interpreter]) -> None:
        key, interp = pair
        program = programs[key] if key >= 0 else unordered[-1 - key]
        try:
            builds[(key, interp.path)] = build_mod.build(program, interp)
        except build_mod.BuildError as exc:
            builds[(key, interp.path)] = str(exc)

    total = len(jobs)
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(do_build, pairs))

        def do_run(job: Job) -> runner.LabRun:
            built = builds[(id(job.scenario), job.interpreter.path)]
            program = programs[id(job.scenario)]
            if isinstance(built, str):
                return runner.LabRun(job.scenario.name, job.interpreter.path, job.interpreter.label, job.detector,
                                     RunOutcome(RunKind.BUILD_FAILED, reason=built))
            key = (job.scenario.name, job.interpreter.path, job.detector)
            if key in why_not and why_not[key] is None:
                plain = builds[(-1 - id(job.scenario), job.interpreter.path)]
                if not isinstance(plain, str):
                    plan = exact_plans[key[:2]]
                    return exact.run(unordered[id(job.scenario)], plain, job.interpreter, plan,
                                     linemap.for_interpreter(job.interpreter), job.detector, timeout=timeout)
            run = runner.run(program, built, job.interpreter, job.detector, timeout=timeout)
            if why_not.get(key):
                run = replace(run, note=f"approximated: {why_not[key]}" + (f"; {run.note}" if run.note else ""))
            return run

        results: list[runner.LabRun | None] = [None] * total
        futures = {pool.submit(do_run, j): n for n, j in enumerate(jobs)}
        from concurrent.futures import as_completed

        try:
            for fut in as_completed(futures):
                n = futures[fut]
                results[n] = fut.result()
                if on_run is not None:
                    on_run(n, jobs[n], results[n])
                done += 1
                if progress is not None:
                    progress(done, total)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return [r for r in results if r is not None]


def program_for(scenario: Scenario, orderings: tuple[Ordering, ...] = ()) -> Program:
    """The generated program of a scenario (what ``--emit-c`` writes)."""
    return generate(scenario, orderings)
