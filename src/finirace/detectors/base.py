"""The detector interface: wrap a command, then read its finished process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from finirace.detectors.backtrace import NativeThread
from finirace.detectors.symbols import Mapping as MemoryMap
from finirace.outcome import RunOutcome
from finirace.proc import ProcResult


@dataclass(frozen=True)
class Prepared:
    """A command wrapped by a detector: what to run, and where its reports go."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    report_file: Path | None = None  # valgrind's XML, for instance


@dataclass(frozen=True)
class Detection:
    """What a detector saw in one finished run."""

    outcome: RunOutcome
    native: tuple[NativeThread, ...] = ()  # every thread's native stack, when taken
    faulting: NativeThread | None = None  # the thread that took the signal, when known
    python_tracebacks: str = ""  # faulthandler's dump, as printed
    raw_report: str = ""  # the detector's own report (gdb output), bounded
    maps: tuple[MemoryMap, ...] = ()  # the stopped process's file mappings (gdb): its frames are named from these


class Detector:
    """Base: a name, a slowdown factor for time limits, prepare and interpret."""

    name = "plain"
    slowdown = 1.0  # multiply a run's time limit by this under the detector

    def environment(self) -> dict[str, str]:
        """Variables this detector sets in the target's environment."""
        return {}

    def prepare(self, argv: Sequence[str], env: Mapping[str, str] | None, workdir: str | os.PathLike[str]) -> Prepared:
        full = dict(os.environ if env is None else env)
        full.update(self.environment())
        return Prepared(tuple(argv), full)

    def interpret(self, prepared: Prepared, result: ProcResult) -> Detection:
        from finirace.detectors.classify import classify, python_tracebacks

        return Detection(classify(result), python_tracebacks=python_tracebacks(result.stderr))

    def on_timeout(self, pid: int) -> str | None:
        """Called while a timed-out run still runs (before the kill): every thread's backtrace."""
        from finirace.detectors.backtrace import attach_backtraces

        return attach_backtraces(pid)

    def traced(self, pid: int) -> list[int]:
        """The processes whose stacks :meth:`on_timeout` reports for ``pid``: the run itself here."""
        return [pid]

    def available(self) -> str | None:
        """None when usable here, else one line saying what is missing."""
        return None
