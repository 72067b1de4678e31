"""Exact schedules: drive a real interpreter through a model interleaving with gdb.

Why gdb: pipes order whole C-API calls, but the model's counterexamples often
switch threads *inside* one call (``take_gil`` between its finalizing test and
its read of ``tstate->interp``).  gdb can stop a thread at a source line of
the interpreter's own line table and run the others alone (scheduler-locking),
so a plan of *segments* (one thread runs until the place where the model
switches away from it) replays the model's order on a real release.

This module holds the lab's side: the plan's vocabulary (:class:`Stop`,
:class:`Segment`, :class:`ExactPlan`, filled in above the lab from a model
trace), the gdb script (the plan written into ``gdb/exact_driver.py``, which
runs inside gdb and needs nothing of finirace, so ``--emit-c`` can ship it),
and :func:`run`, which runs it and reads the outcome as :mod:`runner` does.

Under valgrind the driver starts memcheck with its gdbserver (``--vgdb``) and
connects through ``vgdb``.  That gdbserver resumes every thread on
``continue`` whatever scheduler-locking says, so there a thread is held by
*parking* it: gdb saves its registers, sends it to the program's ``fr_park``
(which sleeps until let go) and puts the registers back at ``fr_park_exit``
(docs/exact-schedules.md).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from finirace import detectors, proc
from finirace.lab import runner
from finirace.lab.build import Built
from finirace.lab.codegen import DEFAULT_SETTLE_MS, MARKERS_ENV, SETTLE_ENV, Program
from finirace.lab.interpreters import Interpreter
from finirace.lab.linemap import LineMap
from finirace.outcome import RunKind, RunOutcome, StepRef

DRIVER = Path(__file__).with_name("gdb") / "exact_driver.py"
_PLAN_LINE = "PLAN = {}  # finirace writes the plan here"
EXACT_MARK = "==finirace-exact=="
THREAD_START = "thread_run"  # the line-map label of where a threading thread begins
DONE = "done"  # a Stop's label when the thread stops once its steps are done
ENDED = "ended"  # a Stop's label when the thread stops as it ends (pthread_exit included)
GIVES_UP = "gives up"  # a Stop's label: a threading thread the runtime kills in its bootstrap, held there
GIVES_UP_PLACE = "thread_run.gives_up"  # GIVES_UP's line-map label: where the runtime kills it, if it does
# (3.9-3.11.2: take_gil's PyThread_exit_thread); where a version has none (3.11.7+ thread_run just
# returns) the thread and the rest run free from there, as for any plan's last segment
AGAIN = ".again"  # a label's suffix: the model runs the step again (a wait's next turn), see exactplan
EXACT_DETECTORS = ("plain", "pymalloc-debug", "gdb", "valgrind")
VGDB_ARGS = ("--vgdb=yes", "--vgdb-error=0")  # valgrind waits for gdb before the first instruction
_DONE = re.compile(r"^==finirace-exact== exact: (\d+) place", re.M)
_NOT = re.compile(r"^==finirace-exact== (not exact: .+)$", re.M)
_WHY = re.compile(r"^==finirace-exact== ((?:stalled|SIG\w+ before|the program ended|cannot tell).+)$", re.M)


@dataclass(frozen=True)
class Stop:
    """Where a thread stops: before ``step`` begins (``label`` None), or inside it before ``label``."""

    step: StepRef | None  # None: in a threading thread's start (label) or when done (label DONE)
    label: str | None = None  # the model's step label inside ``step``
    arm: bool = False  # the thread is not inside ``step`` yet: first run it to the step's beginning
    skip: int = 0  # hits of the place to let pass first (the model runs that step again before)
    note: str = ""  # what the model does there, for the transcript

    @property
    def text(self) -> str:
        if self.label == DONE:
            return "when its steps are done"
        if self.label == ENDED:
            return "as it ends (killed inside the runtime)"
        if self.label == GIVES_UP:
            return "as the runtime kills it in its start"
        if self.step is None:
            return f"in its start before {self.label}"
        if self.label is None:
            return f"at the beginning of {self.step}"
        return f"inside {self.step} before {self.label}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class Segment:
    """One thread runs alone until ``stop``; ``stop`` None: every thread runs free from here."""

    thread: str
    runs: str  # what it runs, in model steps, for the transcript
    stop: Stop | None


@dataclass(frozen=True)
class ExactPlan:
    """A model schedule as segments, and the threads that ``start_thread`` makes (in start order)."""

    token: str
    segments: tuple[Segment, ...]
    python_children: tuple[str, ...] = ()
    tail: str = ""  # what runs free after the last place, when the model goes on there

    @property
    def labels(self) -> tuple[str, ...]:
        """The line-map labels this plan needs."""
        out = [s.stop.label for s in self.segments if s.stop is not None and s.stop.label not in (None, DONE, ENDED, GIVES_UP)]
        if self.python_children:
            out.append(THREAD_START)
        return tuple(dict.fromkeys(out))


def missing(plan: ExactPlan, linemap: LineMap | None, interp: Interpreter) -> str | None:
    """Why ``plan`` cannot run exactly on ``interp`` (one line), or None when it can."""
    if linemap is None:
        return f"no line map for CPython {interp.version[0]}.{interp.version[1]} (src/finirace/lab/lines/)"
    if linemap.checked != interp.label:
        return (f"the lines of CPython {interp.version[0]}.{interp.version[1]} were read from {linemap.checked}'s "
                f"line table, this is {interp.label}")
    for label in plan.labels:
        why = linemap.why_missing(label)
        if why:
            return why
    return None


def _line_of(program: Program, text: str) -> int:
    for n, line in enumerate(program.source.splitlines(), 1):
        if line.strip() == text:
            return n
    raise ValueError(f"the generated program has no line {text!r}")


def gdb_plan(plan: ExactPlan, program: Program, linemap: LineMap, source_name: str,
             environment: dict[str, str] | None = None, stall: float = 10.0,
             valgrind: tuple[str, ...] = ()) -> dict:
    """The plan as the gdb driver reads it: breakpoint locations, thread by thread."""
    index = {name: i for i, name in enumerate(program.threads)}

    def begin(ref: StepRef) -> str:
        i = index[ref.thread]
        return f"{source_name}:{_line_of(program, f'fr_mark({i}, {ref.index}, {chr(39)}b{chr(39)});')}"

    segments = []
    for seg in plan.segments:
        i = index[seg.thread]
        stop = seg.stop
        if stop is None:
            segments.append({"thread": i, "runs": seg.runs, "stop": None})
            continue
        if stop.label == DONE:
            at = f"{source_name}:{_line_of(program, f'fr_mark({i}, -1, {chr(39)}F{chr(39)});')}"
            arm = None
        elif stop.label == ENDED:
            at, arm = "fr_on_end", None  # the generated program's thread-end destructor
        elif stop.label == GIVES_UP:
            if GIVES_UP_PLACE not in linemap.places:
                segments.append({"thread": i, "runs": seg.runs, "stop": None})
                continue
            at, arm = linemap.places[GIVES_UP_PLACE].at, None  # its C entry never ran: no marker
        elif stop.label is None:
            at, arm = begin(stop.step), None
        else:
            at = linemap.places[stop.label].at
            arm = begin(stop.step) if stop.arm and stop.step is not None else None
        segments.append({"thread": i, "runs": seg.runs, "stop": {
            "at": at, "arm": arm, "skip": stop.skip, "why": stop.text, "step": str(stop.step) if stop.step else ""}})
    entries = {}
    for name in program.threads[1:]:
        if name not in plan.python_children:
            entries[str(index[name])] = f"{source_name}:{_line_of(program, f'fr_begin({index[name]});')}"
    out = {"token": plan.token, "threads": list(program.threads), "environment": dict(environment or {}),
           "entries": entries, "python_children": [index[n] for n in plan.python_children],
           "stall": stall, "segments": segments}
    if plan.python_children:
        out["python_entry"] = linemap.places[THREAD_START].at
    if valgrind:
        out["valgrind"] = list(valgrind)  # the driver starts it and connects through vgdb
    return out


def script(gdb_plan_data: dict, header: str = "") -> str:
    """The gdb script: the driver with the plan written in (runnable with ``gdb -nx -batch -x``)."""
    text = DRIVER.read_text()
    body = json.dumps(gdb_plan_data, indent=1)
    literal = f"json.loads(r'''{body}''')" if "'''" not in body and "\\" not in body else repr(body)
    if not literal.startswith("json"):
        literal = f"json.loads({literal})"
    lines = "".join(f"# {ln}\n" for ln in header.splitlines())
    return lines + text.replace(_PLAN_LINE, f"PLAN = {literal}")


@dataclass(frozen=True)
class Exactness:
    """How far an exact run followed its plan."""

    places: int  # places reached
    complete: bool  # every place reached
    why: str = ""  # what stopped it, when not complete


def read_transcript(text: str, planned: int) -> Exactness:
    """What the driver said about the plan in gdb's output."""
    done = _DONE.search(text)
    if done:
        return Exactness(int(done.group(1)), True)
    reached = text.count(f"{EXACT_MARK} reached:")
    why = _WHY.search(text) or _NOT.search(text)
    return Exactness(reached, False, why.group(1) if why else f"the driver stopped after {reached} of {planned} places")


def run(program: Program, built: Built, interp: Interpreter, plan: ExactPlan, linemap: LineMap,
        detector: str = "pymalloc-debug", *, timeout: float = runner.DEFAULT_TIMEOUT,
        settle_ms: int = DEFAULT_SETTLE_MS, workdir: str | None = None) -> runner.LabRun:
    """Run ``built`` under gdb following ``plan``; the LabRun's note says whether it was exact."""
    if detector not in EXACT_DETECTORS:
        raise ValueError(f"an exact run watches with {', '.join(EXACT_DETECTORS)}, not {detector!r}")
    base = dict(scenario=program.scenario, python=interp.path, version=interp.label, detector=detector)
    gdb = detectors.GdbDetector()
    missing_tool = gdb.available()
    if missing_tool:
        return runner.LabRun.not_run(missing_tool, **base)
    env_extra = {"PYTHONMALLOC": "debug"} if detector == "pymalloc-debug" else {}
    memcheck = detectors.ValgrindDetector() if detector == "valgrind" else None
    if memcheck is not None:
        missing_tool = memcheck.available()
        if missing_tool:
            return runner.LabRun.not_run(missing_tool, **base)
        env_extra = dict(memcheck.environment())
    slow = 10.0 if memcheck is not None else 1.0
    with tempfile.TemporaryDirectory(prefix="finirace-exact-", dir=workdir) as tmp:
        markers_path = Path(tmp) / "markers"
        env = interp.run_env()
        env.update(env_extra)
        env[MARKERS_ENV] = str(markers_path)
        env[SETTLE_ENV] = str(int(settle_ms * slow))
        env[runner.STOP_ENV] = "1"
        vg: tuple[str, ...] = ()
        prepared_vg = None
        if memcheck is not None:
            prepared_vg = memcheck.prepare([str(built.binary)], env, tmp)
            vg = (*prepared_vg.argv[:-1], *VGDB_ARGS)
        data = gdb_plan(plan, program, linemap, built.source.name, env_extra, stall=max(2.0, timeout / 2) * slow,
                        valgrind=vg)
        stops = [s["stop"] for s in data["segments"]]
        planned = stops.index(None) if None in stops else len(stops)  # the driver runs free from a None
        path = Path(tmp) / "schedule.py"
        path.write_text(script(data))
        argv = ("gdb", "-nx", "-batch", "-x", str(path), str(built.binary))
        result = proc.run(argv, env={**env, "SHELL": "/bin/sh"}, cwd=tmp, timeout=timeout * 3 * slow)
        detection = gdb.interpret(detectors.Prepared(argv, env), result)
        if prepared_vg is not None:
            # memcheck's report, with the signal the program took as gdb saw it
            # (a SIGTRAP is the settle's own stop or vgdb's report of a deleted breakpoint, not the program's)
            signal = None if detection.outcome.signal == "SIGTRAP" else detection.outcome.signal
            seen = replace(result, signal=signal, exit_code=detection.outcome.exit_code)
            checked = memcheck.interpret(prepared_vg, seen)
            detection = replace(detection, outcome=replace(
                checked.outcome, reason=checked.outcome.reason or detection.outcome.reason))
        try:
            marker_text = markers_path.read_text(errors="replace")
        except OSError:
            marker_text = ""
    exactness = read_transcript(result.stdout, planned)
    markers = runner.parse_markers(marker_text, program)
    main = program.threads[0]
    main_returned = any(m.thread == main and m.phase == runner.END for m in markers)
    stopped = any(m.thread == main and m.phase == "H" for m in markers)
    outcome = detection.outcome
    if stopped and outcome.signal == "SIGTRAP":
        main_returned = True  # the settle's own stop to show blocked threads
        outcome = RunOutcome(RunKind.CLEAN, exit_code=0)
    threads = runner.thread_results(program, markers, main_returned, result.timed_out)
    where = runner._gdb_where(detection.native, program, built.source.name) if detection.native else {}
    if where:
        threads = tuple(replace(t, where=where.get(t.name, t.where)) if t.outcome is None or t.outcome.value != "finished"
                        else t for t in threads)
    outcome = replace(outcome, threads=threads,
                      memory_errors=runner.map_memory_errors(outcome.memory_errors, program, built.source.name))
    if exactness.complete:
        note = f"exact: {exactness.places} of {planned} places reached under gdb ({plan.token})"
    else:
        note = f"not exact: {exactness.why} ({exactness.places} of {planned} places reached)"
    return runner.LabRun(**base, outcome=outcome, markers=markers, duration=result.duration,
                         stderr=result.stderr[-8000:], stdout=result.stdout[-4000:],
                         backtraces=result.stdout[-64 * 1024:], note=note)
