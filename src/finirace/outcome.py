"""The outcome vocabulary every stage of finirace speaks.

A model prediction, a lab run and a stress run all end in a :class:`RunOutcome`,
so they can be compared field by field.  The words follow DESIGN.md:

* per thread: ``finished``, ``exited`` (killed inside the runtime by
  ``pthread_exit``), ``hung`` (parked for ever inside the runtime after
  finalization), ``deadlocked`` (waiting on something nobody will ever give it);
* per run: ``clean``, ``crash``, ``abort``, ``memory-error``, ``timeout``,
  ``failed`` (the program exited with a non-zero status the ordinary way, or
  could not start at all: no crash at exit, but not a clean run either, since
  what it was meant to run did not run to its end; the reason says which:
  ``exit status 2``, ``could not start: …``, or a caller's own words such as a
  test runner's ``ran no test``), ``build-failed`` (the lab's program did
  not build, so nothing ran) and ``not-run`` (the detector asked for cannot run
  there, e.g. debug-build assertions on a release build; the reason says why).
  None of the last three is ever a model outcome, and none is ever a clean run.

Outcomes are compared through their *label*: the run kind followed by one
clause per thread that did not finish normally, e.g. ``"clean, worker hung"``.
An expectation written in a scenario (``[expect]``) uses the same labels, and
may leave thread clauses out: ``"memory-error"`` matches any run that ended in a
memory error, whatever its threads did (see :func:`label_matches`).

Memory errors are worded as valgrind words them (invalid read, "free'd",
"alloc'd"), because that is what users already recognise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import lru_cache


class ThreadOutcome(str, enum.Enum):
    """How one thread of a run ended."""

    FINISHED = "finished"
    EXITED = "exited"
    HUNG = "hung"
    DEADLOCKED = "deadlocked"

    def __str__(self) -> str:
        return self.value


class RunKind(str, enum.Enum):
    """How a whole run (one process) ended."""

    CLEAN = "clean"
    CRASH = "crash"
    ABORT = "abort"
    MEMORY_ERROR = "memory-error"
    TIMEOUT = "timeout"
    FAILED = "failed"  # exited non-zero the ordinary way, or could not start (reason: which; exit_code kept)
    BUILD_FAILED = "build-failed"  # nothing ran: the lab's program did not build (reason: the compiler's words)
    NOT_RUN = "not-run"  # nothing ran: the detector cannot run there (reason: why), so nothing is known

    def __str__(self) -> str:
        return self.value


# Worse first: when one run shows several symptoms, the report leads with this order.
SEVERITY = (RunKind.MEMORY_ERROR, RunKind.CRASH, RunKind.ABORT, RunKind.TIMEOUT, RunKind.FAILED, RunKind.CLEAN)


@dataclass(frozen=True)
class StepRef:
    """A step of a scenario, as it is named to a user: thread, index, text."""

    thread: str
    index: int  # 0-based position in the thread's step list
    text: str  # the step as written in the scenario file

    def __str__(self) -> str:
        return f"{self.thread}[{self.index}] {self.text}"


@dataclass(frozen=True)
class Access:
    """Who touched a block: the thread, the scenario step and the C function.

    ``frames`` holds a native stack where one is known (lab, valgrind), innermost
    first; the model fills in the chain of modelled C functions instead.
    """

    thread: str
    function: str
    step: StepRef | None = None
    frames: tuple[str, ...] = ()

    def describe(self) -> str:
        where = f" (step {self.step})" if self.step else ""
        return f"{self.function} in thread {self.thread}{where}"


@dataclass(frozen=True)
class MemoryErrorReport:
    """One invalid access, with the block's history, valgrind style."""

    kind: str  # "Invalid read", "Invalid write", "Invalid free", ...
    block: str  # what the block holds, e.g. "PyThreadState of worker"
    access: Access
    size: int | None = None  # bytes accessed
    offset: int | None = None  # bytes inside the block
    block_size: int | None = None
    freed_by: Access | None = None
    allocated_by: Access | None = None
    address: int | None = None  # the address touched, where a detector gave it

    @property
    def null_page(self) -> bool:
        """An access inside the first page: a field read or written through a NULL pointer.

        No block was freed or allocated there, so there is no history to show:
        the run crashes (or would) on a NULL pointer, it is no use-after-free.
        """
        return self.address is not None and 0 <= self.address < NULL_PAGE_SIZE

    def lines(self) -> list[str]:
        """The report as valgrind would print it."""
        size = f" of size {self.size}" if self.size is not None else ""
        out = [f"{self.kind}{size}", *_stack(self.access)]
        if self.null_page:
            out.append(f" Address {self.address:#x} is NULL+{self.address:#x}: a NULL pointer dereference")
            return out
        inside = ""
        if self.offset is not None:
            bsize = f" of size {self.block_size}" if self.block_size is not None else ""
            inside = f" is {self.offset} bytes inside a block{bsize}"
        out.append(f" Address{inside} ({self.block})")
        if self.freed_by is not None:
            out.append(" free'd")
            out.extend(_stack(self.freed_by))
        if self.allocated_by is not None:
            out.append(" Block was alloc'd")
            out.extend(_stack(self.allocated_by))
        return out


NULL_PAGE_SIZE = 4096  # Linux never maps the page at 0 (vm.mmap_min_addr is at least this)


def _stack(a: Access) -> list[str]:
    """``at`` and ``by`` lines, each frame once.

    A native stack (valgrind) starts with the function the ``at`` line names,
    with its file and line; the model's chain may repeat it too.  The ``at``
    line takes that first frame's text, and the ``by`` lines start below it.
    """
    frames = list(a.frames)
    at = a.function
    names = [f.split(" (", 1)[0] for f in frames]
    if a.function in names:  # frames above it are the allocator's own (free, malloc): the at line says who
        k = names.index(a.function)
        at, frames = (frames[k] if " (" in frames[k] else at), frames[k + 1:]
    while frames and frames[0] == a.function:
        frames.pop(0)
    who = f" in thread {a.thread}" if a.thread not in ("", "?") else ""
    where = f" (step {a.step})" if a.step else ""
    return [f"   at {at}{who}{where}", *(f"   by {f}" for f in frames)]


@dataclass(frozen=True)
class ThreadResult:
    """One thread's end: its outcome, and the last step it was in or past."""

    name: str
    outcome: ThreadOutcome | None  # None: cut short because the run ended (crash, exit)
    last_step: StepRef | None = None
    where: str = ""  # the C function it was in, where known ("take_gil")


@dataclass(frozen=True)
class RunOutcome:
    """How one run ended, predicted by the model or observed in a real process."""

    kind: RunKind
    threads: tuple[ThreadResult, ...] = ()
    signal: str | None = None  # "SIGSEGV", "SIGABRT", ...
    reason: str = ""  # faulting function, fatal error or assertion text
    memory_errors: tuple[MemoryErrorReport, ...] = ()
    exit_code: int | None = None

    @property
    def label(self) -> str:
        """The comparable name of this outcome: kind, then abnormal threads."""
        clauses = [
            f"{t.name} {t.outcome.value}"
            for t in self.threads
            if t.outcome is not None and t.outcome is not ThreadOutcome.FINISHED
        ]
        return ", ".join([self.kind.value, *clauses])

    def thread(self, name: str) -> ThreadResult | None:
        for t in self.threads:
            if t.name == name:
                return t
        return None


@dataclass(frozen=True)
class Label:
    """A parsed outcome label: a run kind and the thread clauses it requires."""

    kind: RunKind
    threads: frozenset[tuple[str, ThreadOutcome]] = field(default_factory=frozenset)


class LabelError(ValueError):
    """A label that does not follow the ``kind[, thread outcome]...`` form."""


@lru_cache(maxsize=4096)
def parse_label(text: str) -> Label:
    """Parse ``"clean, worker hung"`` into a :class:`Label`.

    Kept per text (a Label is frozen): ``finirace check`` on the whole catalog matched
    a few thousand labels against expectations, each parsed again at every comparison."""
    parts = [p.strip() for p in text.split(",")]
    if not parts or not parts[0]:
        raise LabelError(f"empty outcome label {text!r}")
    try:
        kind = RunKind(parts[0])
    except ValueError:
        kinds = ", ".join(k.value for k in RunKind)
        raise LabelError(f"unknown run outcome {parts[0]!r} in {text!r} (known: {kinds})") from None
    clauses = set()
    for clause in parts[1:]:
        words = clause.split()
        if len(words) != 2:
            raise LabelError(f"thread clause {clause!r} in {text!r} is not 'THREAD OUTCOME'")
        name, word = words
        try:
            clauses.add((name, ThreadOutcome(word)))
        except ValueError:
            known = ", ".join(o.value for o in ThreadOutcome)
            raise LabelError(f"unknown thread outcome {word!r} in {text!r} (known: {known})") from None
    return Label(kind, frozenset(clauses))


def label_matches(expected: str | Label, reached: str | RunOutcome) -> bool:
    """Whether a reached outcome fits an expected label.

    The kinds must be equal and every thread clause of the expectation must be
    in the reached label; clauses the expectation leaves out are free.
    """
    exp = parse_label(expected) if isinstance(expected, str) else expected
    got = parse_label(reached.label if isinstance(reached, RunOutcome) else reached)
    return exp.kind is got.kind and exp.threads <= got.threads


def set_matches(expected: list[str] | tuple[str, ...], reached: list[str] | tuple[str, ...]) -> bool:
    """Whether a set of reached labels is exactly what a set of expectations says.

    Every reached label must fit some expectation, and every expectation must be
    fitted by some reached label: nothing unexpected, nothing missing.
    """
    exp = [parse_label(e) for e in expected]
    return all(any(label_matches(e, r) for e in exp) for r in reached) and all(
        any(label_matches(e, r) for r in reached) for e in exp
    )


# --------------------------------------------------------------------------- JSON
#
# One plain-data form for every report and for the store, so that a model
# prediction, a lab run and a stored run serialize the same way and a stored
# outcome reads back equal to the one written.


def _step_to_dict(s: StepRef | None) -> dict | None:
    return None if s is None else {"thread": s.thread, "index": s.index, "text": s.text}


def _step_from_dict(d: dict | None) -> StepRef | None:
    return None if d is None else StepRef(d["thread"], int(d["index"]), d["text"])


def _access_to_dict(a: Access | None) -> dict | None:
    if a is None:
        return None
    return {"thread": a.thread, "function": a.function, "step": str(a.step) if a.step else None,
            "step_ref": _step_to_dict(a.step), "frames": list(a.frames)}


def _access_from_dict(d: dict | None) -> Access | None:
    if d is None:
        return None
    return Access(d["thread"], d["function"], _step_from_dict(d.get("step_ref")), tuple(d.get("frames", ())))


def outcome_to_dict(o: RunOutcome) -> dict:
    """A JSON-ready dict: the label for people and scripts, every field for the round trip."""
    return {
        "label": o.label,
        "kind": o.kind.value,
        "signal": o.signal,
        "reason": o.reason,
        "exit_code": o.exit_code,
        "threads": [
            {
                "name": t.name,
                "outcome": t.outcome.value if t.outcome is not None else None,
                "last_marker": str(t.last_step) if t.last_step else None,
                "last_step": _step_to_dict(t.last_step),
                "where": t.where,
            }
            for t in o.threads
        ],
        "memory_errors": [
            {
                "kind": e.kind,
                "block": e.block,
                "size": e.size,
                "offset": e.offset,
                "block_size": e.block_size,
                "address": e.address,
                "access": _access_to_dict(e.access),
                "freed_by": _access_to_dict(e.freed_by),
                "allocated_by": _access_to_dict(e.allocated_by),
                "text": e.lines(),
            }
            for e in o.memory_errors
        ],
    }


def outcome_from_dict(d: dict) -> RunOutcome:
    """The inverse of :func:`outcome_to_dict`."""
    return RunOutcome(
        kind=RunKind(d["kind"]),
        threads=tuple(
            ThreadResult(
                t["name"],
                ThreadOutcome(t["outcome"]) if t.get("outcome") else None,
                _step_from_dict(t.get("last_step")),
                t.get("where", ""),
            )
            for t in d.get("threads", ())
        ),
        signal=d.get("signal"),
        reason=d.get("reason", ""),
        memory_errors=tuple(
            MemoryErrorReport(
                kind=e["kind"],
                block=e["block"],
                access=_access_from_dict(e["access"]),
                size=e.get("size"),
                offset=e.get("offset"),
                block_size=e.get("block_size"),
                address=e.get("address"),
                freed_by=_access_from_dict(e.get("freed_by")),
                allocated_by=_access_from_dict(e.get("allocated_by")),
            )
            for e in d.get("memory_errors", ())
        ),
        exit_code=d.get("exit_code"),
    )
