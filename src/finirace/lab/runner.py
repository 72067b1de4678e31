"""Run a built program once under a detector and read its markers into a RunOutcome.

Why markers decide the thread outcomes: a process that crashed, hung or was
killed cannot say what its threads were doing, but the marker file can.  Every
step writes ``b`` before and ``a`` after its call, every thread ``S`` at its
start, ``F`` when its steps are done and ``E`` when it ends (see codegen), so:

* ``E`` after ``F``: **finished**;
* ``E`` without ``F``: **exited** — the thread ended inside the call it had
  begun (``pthread_exit`` from the runtime);
* no ``E`` although ``main`` returned (or the run timed out): **deadlocked** when
  it sits in ``join``/``lock``/``wait``/``block``, else **hung** inside the C-API
  call it began;
* no ``E`` and ``main`` never returned (crash, abort): ``None``, cut short.

The process itself is run by :mod:`finirace.proc` and read by the shared
:mod:`finirace.detectors`; this module adds what only the lab knows: mapping
native frames (valgrind's stacks, gdb's backtraces) to scenario steps through
the generated source's line numbers, and the gdb stop for blocked threads
(``FINIRACE_STOP_IF_BLOCKED``: main raises ``SIGTRAP`` once it settled with
threads still blocked, so gdb prints where they are).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from finirace import proc
from finirace.detectors import registry
from finirace.lab.build import Built
from finirace.lab.codegen import AFTER, BEFORE, DEFAULT_SETTLE_MS, DONE, END, MARKERS_ENV, SETTLE_ENV, START, Program
from finirace.lab.interpreters import Interpreter
from finirace.lab.statements import C_STEPS
from finirace.outcome import Access, MemoryErrorReport, RunKind, RunOutcome, StepRef, ThreadOutcome, ThreadResult

STOP_ENV = "FINIRACE_STOP_IF_BLOCKED"
BLOCKING_KINDS = ("join", "lock", "wait", "block")
DEFAULT_TIMEOUT = 10.0
_MARK = re.compile(r"^M (\d+) (\d+) (-?\d+) ([baSFEH])$")
_RUNTIME_NOISE = ("__", "pthread_", "futex", "syscall", "??", "raise", "abort", "clock_nanosleep", "nanosleep",
                  "do_futex", "sem_", "PyThread_acquire_lock", "PyCOND_", "PyMUTEX_")




@dataclass(frozen=True)
class Marker:
    """One marker line: when (monotonic ns), which thread, which step (-1: none), which phase."""

    time_ns: int
    thread: str
    step: int
    phase: str


@dataclass(frozen=True)
class LabRun:
    """One run of one scenario on one interpreter under one detector."""

    scenario: str
    python: str  # the interpreter's path
    version: str  # its label: "3.11.7", "3.11.2-debug"
    detector: str
    outcome: RunOutcome
    markers: tuple[Marker, ...] = ()
    duration: float = 0.0
    stderr: str = ""
    stdout: str = ""
    backtraces: str = ""  # gdb's all-thread backtraces, when taken
    note: str = ""  # why a run was skipped, or something a reader needs to know
    skipped: bool = False

    @classmethod
    def not_run(cls, why: str, **base) -> "LabRun":
        """A run its detector cannot make there: ``not-run`` with the reason, skipped, the note saying why."""
        return cls(**base, outcome=RunOutcome(RunKind.NOT_RUN, reason=why), skipped=True, note=why)


def parse_markers(text: str, program: Program) -> tuple[Marker, ...]:
    """Marker lines into values; a torn last line (killed mid-write) is dropped."""
    out = []
    for line in text.splitlines():
        m = _MARK.match(line.strip())
        if not m:
            continue
        t = int(m.group(2))
        if t >= len(program.threads):
            continue
        out.append(Marker(int(m.group(1)), program.threads[t], int(m.group(3)), m.group(4)))
    return tuple(out)


def thread_results(program: Program, markers: tuple[Marker, ...], main_returned: bool,
                   timed_out: bool) -> tuple[ThreadResult, ...]:
    """Each thread's outcome and last step, read from the markers (see the module docstring)."""
    results = []
    for ti, name in enumerate(program.threads):
        mine = [m for m in markers if m.thread == name]
        phases = {m.phase for m in mine}
        steps = [m for m in mine if m.phase in (BEFORE, AFTER)]
        last = steps[-1] if steps else None
        inside = last if last is not None and last.phase == BEFORE else None
        last_ref = program.steps[ti][last.step] if last is not None else None
        kind = program.kinds[ti][inside.step] if inside is not None else None
        where = C_STEPS[kind].calls if kind else ""
        if name == program.threads[0] and main_returned:
            outcome: ThreadOutcome | None = ThreadOutcome.FINISHED
        elif END in phases:
            outcome = ThreadOutcome.FINISHED if DONE in phases else ThreadOutcome.EXITED
        elif START not in phases:
            outcome = None  # never ran (or ran nothing before the run ended)
        elif main_returned or timed_out:
            outcome = ThreadOutcome.DEADLOCKED if kind in BLOCKING_KINDS else ThreadOutcome.HUNG
        else:
            outcome = None  # cut short: the process died around it
        if outcome is ThreadOutcome.FINISHED:
            where = ""
        results.append(ThreadResult(name, outcome, last_ref, where))
    return tuple(results)


def _step_of_frames(frames: tuple[str, ...], program: Program, source_name: str) -> StepRef | None:
    """The scenario step whose generated line appears in a native stack (innermost first)."""
    pat = re.compile(re.escape(source_name) + r":(\d+)")
    for f in frames:
        m = pat.search(f)
        if m:
            return program.step_at_line(int(m.group(1)))
    return None


def _map_access(acc: Access | None, program: Program, source_name: str) -> Access | None:
    if acc is None:
        return None
    step = _step_of_frames(acc.frames, program, source_name)
    if step is None:
        return acc
    return Access(step.thread, acc.function, step, acc.frames)


def map_memory_errors(errors: tuple[MemoryErrorReport, ...], program: Program,
                      source_name: str) -> tuple[MemoryErrorReport, ...]:
    """valgrind's stacks named as scenario steps: who read, who freed, who allocated."""
    out = []
    for e in errors:
        alloc = _map_access(e.allocated_by, program, source_name)
        block = e.block
        if alloc is not None and any("threadstate" in f.lower() for f in alloc.frames[:8]):
            block = f"PyThreadState of {alloc.thread}" if alloc.step else "a PyThreadState"
        out.append(replace(e, access=_map_access(e.access, program, source_name) or e.access,
                           freed_by=_map_access(e.freed_by, program, source_name),
                           allocated_by=alloc, block=block))
    return tuple(out)


def _gdb_where(native: tuple, program: Program, source_name: str) -> dict[str, str]:
    """For each scenario thread seen in gdb's backtraces: the innermost runtime function it is in."""
    out: dict[str, str] = {}
    for t in native:
        texts = tuple(str(f) for f in t.frames)
        step = _step_of_frames(texts, program, source_name)
        if step is None:
            continue
        fn = next((f.function for f in t.frames if not f.function.startswith(_RUNTIME_NOISE)), "")
        if fn and not fn.startswith("fr_"):
            out.setdefault(step.thread, fn)
    return out


def run(program: Program, built: Built, interp: Interpreter, detector: str = "plain", *,
        timeout: float = DEFAULT_TIMEOUT, settle_ms: int = DEFAULT_SETTLE_MS, workdir: str | None = None) -> LabRun:
    """Run ``built`` once under ``detector`` and say how it ended, per run and per thread."""
    base = dict(scenario=program.scenario, python=interp.path, version=interp.label, detector=detector)
    spec = registry.spec(detector)
    if not spec.lab:
        raise ValueError(f"the {detector} detector is not for the lab (known: {', '.join(registry.names(lab=True))})")
    if spec.debug_build and not interp.debug:
        why = f"the {detector} detector needs a debug build; {interp.label} is a release build"
        return LabRun.not_run(why, **base)
    det = spec.create()
    missing = det.available()
    if missing:
        return LabRun.not_run(missing, **base)
    with tempfile.TemporaryDirectory(prefix="finirace-lab-", dir=workdir) as tmp:
        markers_path = Path(tmp) / "markers"
        env = interp.run_env()
        env[MARKERS_ENV] = str(markers_path)
        env[SETTLE_ENV] = str(int(settle_ms * min(det.slowdown, 10.0)))
        if spec.all_threads:
            env[STOP_ENV] = "1"
        prepared = det.prepare([str(built.binary)], env, tmp)
        attach = det.on_timeout  # gdb attaches; under a tracer the detector knows better
        result = proc.run(prepared.argv, env=dict(prepared.env), cwd=tmp, timeout=timeout * det.slowdown,
                          on_timeout=attach)
        detection = det.interpret(prepared, result)
        try:
            marker_text = markers_path.read_text(errors="replace")
        except OSError:
            marker_text = ""
    markers = parse_markers(marker_text, program)
    main = program.threads[0]
    main_returned = any(m.thread == main and m.phase == END for m in markers)
    stopped = any(m.thread == main and m.phase == "H" for m in markers)
    outcome = detection.outcome
    if spec.all_threads and stopped and outcome.signal == "SIGTRAP":
        # our own stop to show blocked threads, not the program's fault
        main_returned = True
        outcome = RunOutcome(RunKind.CLEAN, memory_errors=outcome.memory_errors, exit_code=0)
    threads = thread_results(program, markers, main_returned, result.timed_out)
    source_name = built.source.name
    where = _gdb_where(detection.native, program, source_name) if detection.native else {}
    if where:
        threads = tuple(replace(t, where=where.get(t.name, t.where)) if t.outcome is not ThreadOutcome.FINISHED else t
                        for t in threads)
    errors = map_memory_errors(outcome.memory_errors, program, source_name)
    outcome = replace(outcome, threads=threads, memory_errors=errors)
    backtraces = detection.raw_report if spec.all_threads else (result.timeout_note or "")
    return LabRun(**base, outcome=outcome, markers=markers, duration=result.duration,
                  stderr=result.stderr[-8000:], stdout=result.stdout[-4000:], backtraces=backtraces)
