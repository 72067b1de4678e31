"""Run records: one finished run as a campaign stores it, lab or stress.

Both kinds of campaign share one form, :class:`RunRecord`: the run's place in
its campaign (``index``), the whole :class:`~finirace.outcome.RunOutcome`
(stored as the outcome vocabulary's JSON, :func:`~finirace.outcome.outcome_to_dict`,
which reads back equal), how long it took, the tails of its output and when it
finished.  :class:`StressRunRecord` and :class:`LabRunRecord` add what only
that kind knows (a seed and a crash signature; a scenario, an interpreter and
the model's prediction).  Reports read these records, live or from the store,
so a table drawn during a campaign and one drawn from the store later are the
same table.

Why the outcome whole, never flattened to strings: signatures, grades and
reports switch on :class:`~finirace.outcome.RunKind`, and a new kind of
outcome then needs no new column.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from finirace.outcome import RunKind, RunOutcome

BACKTRACE_TAIL = 16000  # characters of native backtraces kept per lab run (store and JSON)


@dataclass(frozen=True)
class RunRecord:
    """What every stored run holds, whatever its campaign's kind."""

    index: int  # 0 .. N-1 in its campaign; (campaign, index) is unique
    outcome: RunOutcome
    duration: float = 0.0
    stdout_tail: str = ""
    stderr_tail: str = ""
    finished: float = field(default_factory=time.time)

    @property
    def kind(self) -> RunKind:
        return self.outcome.kind


@dataclass(frozen=True, kw_only=True)
class StressRunRecord(RunRecord):
    """One stress run: its seed, its bucket's signature and the evidence, bounded."""

    seed: int
    perturbation: str = ""  # what the run got: "python, cpu 1, 2 hogs" (the level first); "" in old rows
    signature: str = ""  # empty for a clean run
    python_tracebacks: str = ""
    native_backtrace: str = ""
    memory_error_text: str = ""  # valgrind-style text of every memory error, as shown (bounded)
    leftovers: int = 0  # processes the run left behind, killed
    worker: str = ""  # the host it ran on


@dataclass(frozen=True, kw_only=True)
class LabRunRecord(RunRecord):
    """One graded lab run: what ran, how it ended, what the model said of it."""

    scenario: str
    python: str  # the interpreter's path
    version: str  # its label: "3.11.7", "3.11.2-debug"
    detector: str
    predicted: tuple[RunOutcome, ...]
    grade: str  # a conformance grade: yes, weak, no, error, n/a, skipped
    repetition: int = 0
    scenario_path: str | None = None
    variant: str | None = None  # the model era it was graded against
    predicted_note: str = ""  # why there is no prediction
    why: str = ""  # the grade's reason
    skipped: bool = False  # not run: the detector cannot run there (note says why)
    note: str = ""
    schedule: str | None = None  # the `finirace check` schedule token it replays
    html: str | None = None  # the HTML timeline drawn of it
    backtraces: str = ""  # gdb's all-thread backtraces, when taken

    @property
    def predicted_text(self) -> str:
        """The predicted labels, ``|``-joined, or why there are none."""
        return " | ".join(p.label for p in self.predicted) if self.predicted else (self.predicted_note or "none")
