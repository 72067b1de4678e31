"""One stress run, start to stored record: the unit of work shipped to a worker.

:func:`execute_run` takes a picklable :class:`RunSpec` and returns a
:class:`~finirace.records.StressRunRecord` holding the run's whole
:class:`~finirace.outcome.RunOutcome`, so the same function runs in a local
thread or on a Dask worker on another machine; everything that depends on
the machine (building the shim, symbolizing frames) happens where the run
happened.

Native backtraces, the choice made: the preloaded shim prints the faulting
thread's native frames from inside the crashing process (cheap, every crash,
no second run needed, no core-file settings needed); hangs get every thread's
backtrace from gdb attached before the kill.  All-thread native stacks of
crashes need ``--detector gdb`` (every run under gdb, slower).  A re-run under
gdb with the same seed was not chosen as the source of signatures: an
intermittent bug may not crash again.
"""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass, field, replace
from typing import Callable

from finirace import detectors, proc
from finirace.detectors import symbols
from finirace.detectors.backtrace import CRASHED, parse_backtraces, stack_cut, stacks_only
from finirace.detectors.base import Detection
from finirace.outcome import RunKind
from finirace.records import StressRunRecord
from finirace.stress import crashtrace
from finirace.stress import signature as sig
from finirace.stress.perturb import Perturbation, RunPerturbation, ShimError, build_shim, join_path, sitecustomize_dir

TAIL = 4000  # characters of stdout/stderr kept per run in the store


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs; picklable, so it can travel to a Dask worker."""

    argv: tuple[str, ...]
    index: int
    seed: int
    timeout: float = 60.0
    perturbation: Perturbation = field(default_factory=Perturbation)
    detector: str = "plain"
    env: tuple[tuple[str, str], ...] = ()  # extra variables given by the user
    cwd: str | None = None
    shim: bool = True  # preload the shim for crash backtraces (and native delays)


def run_perturbation(spec: RunSpec) -> RunPerturbation:
    """What run ``spec`` gets: its level, and contention only where the shim is loaded (it pins and hogs)."""
    run = spec.perturbation.for_run(spec.seed)
    if not detectors.spec(spec.detector).shim:  # under gdb or valgrind: no shim, no contention
        run = replace(run, cpu=None, hogs=0)
    return run


def run_environment(spec: RunSpec) -> dict[str, str]:
    env = dict(os.environ)
    env.update(spec.env)
    env["PYTHONFAULTHANDLER"] = "1"
    run = run_perturbation(spec)
    env.update(spec.perturbation.environment(spec.seed, run))
    if run.python:
        env["PYTHONPATH"] = join_path(str(sitecustomize_dir()), env.get("PYTHONPATH"))
    # the shim's signal handler and delays fight a debugger or valgrind: plain runs only
    if (spec.shim or run.native) and detectors.spec(spec.detector).shim:
        try:
            env["LD_PRELOAD"] = join_path(str(build_shim()), env.get("LD_PRELOAD"))
            env["FINIRACE_CRASH_BACKTRACE"] = "1"
        except ShimError:
            if run.native:
                raise
    return env


def _tail(text: str) -> str:
    return text[-TAIL:]


def execute_run(spec: RunSpec, judge: Callable[[proc.ProcResult, Detection], Detection] | None = None) -> StressRunRecord:
    """Run the target once under its detector and return the finished record.

    ``judge``, when given, may correct the detector's word from what only the
    caller knows (a test runner that exited 0 but ran no test is not clean).
    """
    det = detectors.get(spec.detector)
    maps: list[str] = []

    def on_timeout(pid: int) -> str | None:
        maps.extend(_maps_of(p) for p in det.traced(pid))  # while it lives: gdb's frames are named from these
        return det.on_timeout(pid)

    with tempfile.TemporaryDirectory(prefix="finirace-run-") as work:
        prepared = det.prepare(spec.argv, run_environment(spec), work)
        result = proc.run(
            prepared.argv,
            env=prepared.env,
            cwd=spec.cwd,
            timeout=spec.timeout * det.slowdown,
            on_timeout=on_timeout,
        )
        detection = det.interpret(prepared, result)
    if judge is not None:
        detection = judge(result, detection)
    return finish_run(spec, result, detection, symbols.parse_maps("\n".join(maps)) or detection.maps)


def _maps_of(pid: int) -> str:
    """``/proc/PID/maps`` of a live process, or '' when it is gone."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return f.read()
    except OSError:
        return ""


def finish_run(spec: RunSpec, result: proc.ProcResult, detection: Detection,
               maps: tuple[symbols.Mapping, ...] = ()) -> StressRunRecord:
    """The stored record of a finished run: its outcome, signature, stacks and output tails.

    Shared with runs that were not started by :func:`execute_run` (the pytest
    plugin forks its reruns from a warm process), so every run is bucketed
    the same way.  ``maps``, the process's mappings read while it was still
    there (a hung one's before the kill; under gdb, gdb's ``info proc
    mappings`` of the stopped process), let gdb's frames be named from the
    libraries' symbol tables by the code that names the shim's, a guessed
    name marked so the signature does not use it.
    """
    outcome = detection.outcome
    native_text = ""
    native: list = []
    shim = crashtrace.parse(result.stderr)
    if shim is not None and shim.frames:
        native = list(shim.frames)
        native_text = shim.text()
    if detection.faulting is not None:
        native = list(symbols.resolve(detection.faulting.frames, maps))  # frames, not names: system ones are told apart
        native_text = stacks_only(detection.raw_report)
        if [(f.function, f.guess) for f in native] != [(f.function, f.guess) for f in detection.faulting.frames]:
            # gdb named some frame by the nearest exported symbol, or not at all: the
            # names the signature uses come first, gdb's all-thread text below them
            named = "\n".join(f"  {f}" for f in native)
            native_text = f"faulting thread, named from the process's mappings:\n{named}\n\ngdb:\n{native_text}"
    if outcome.kind is RunKind.TIMEOUT and result.timeout_note:
        native_text = result.timeout_note
        threads = parse_backtraces(result.timeout_note)
        if threads:
            native = list(symbols.resolve(threads[-1].frames, maps))  # gdb lists the main thread last
    if outcome.memory_errors:
        native = list(outcome.memory_errors[0].access.frames)
    stderr = sig.without_shim_block(result.stderr)  # the shim's lines are kept parsed, in native_backtrace
    signature = ""
    if outcome.kind is not RunKind.CLEAN:
        signature = sig.signature(outcome, native, sig.python_frames(detection.python_tracebacks),
                                  stderr=stderr)
    return StressRunRecord(
        index=spec.index,
        seed=spec.seed,
        perturbation=run_perturbation(spec).text(),
        outcome=outcome,
        duration=result.duration,
        signature=signature,
        stdout_tail=_tail(result.stdout),
        stderr_tail=_tail(stderr),
        python_tracebacks=sig.without_shim_block(detection.python_tracebacks)[-TAIL * 4 :],
        native_backtrace=stack_cut(native_text, TAIL * 4, outcome.kind.value in CRASHED),
        memory_error_text="\n\n".join("\n".join(e.lines()) for e in outcome.memory_errors)[-TAIL * 4 :],
        leftovers=result.leftovers_killed,
        worker=f"{socket.gethostname()}:{os.getpid()}",  # the process that ran it (a Dask worker, or finirace)
    )
