"""From a finished process to a run kind: the one place that decision is made.

The order is the order of certainty: a time-out is a time-out whatever was
printed; a memory error reported by the detector outranks the signal it may
also have caused; a signal outranks text; then the text a runtime prints just
before it aborts (``Fatal Python error``, a failed ``assert``, C++'s
``terminate called``), which may also come with a plain non-zero exit when the
abort was caught.  Then a non-zero exit status the ordinary way is
``failed`` (so is a command that could not start): not a finalization crash,
but never ``clean`` either, since a run that did not get to its end tested
nothing (a script that is not found exits 2 every time).  Only a zero exit
status is ``clean``.
"""

from __future__ import annotations

import re
from typing import Sequence

from finirace.outcome import MemoryErrorReport, RunKind, RunOutcome
from finirace.proc import ProcResult

# what faulthandler prints for the signal itself: not a reason of its own
_SIGNAL_WORDS = {
    "Segmentation fault",
    "Bus error",
    "Aborted",
    "Floating point exception",
    "Illegal instruction",
}
# The stress shim's crash backtrace: one line per write, tagged with the crashing
# thread's native id, possibly landed in the middle of another writer's line.
SHIM_LINE = re.compile(r"==finirace-bt== T(?P<tid>\d+) (?P<what>[^\n]*)\n?")
_FATAL = re.compile(r"^Fatal Python error: (.+?)\s*$", re.M)
_TERMINATE = re.compile(r"^(terminate called .+?)\s*$", re.M)
_ASSERT = re.compile(r"^.*?(Assertion [`'\"].+?[`'\"] failed)\.?\s*$", re.M)
_PYMALLOC = re.compile(r"^Debug memory block at address p=0x[0-9a-f]+: API '(.)'", re.M)
_ADDR = re.compile(r"0x[0-9a-fA-F]+")


def without_shim_lines(text: str) -> str:
    """``text`` without the shim's tagged lines: another writer's line that one landed in is whole again."""
    return SHIM_LINE.sub("", text) if "==finirace-bt==" in text else text


def reason_from_output(text: str) -> str:
    """The abort reason a runtime printed, normalized (addresses become 0x…), or ''."""
    for m in _FATAL.finditer(text):
        if m.group(1) not in _SIGNAL_WORDS:
            return "Fatal Python error: " + _ADDR.sub("0x…", m.group(1))
    for rx in (_TERMINATE, _ASSERT):
        m = rx.search(text)
        if m:
            return _ADDR.sub("0x…", m.group(1))
    m = _PYMALLOC.search(text)
    if m:
        return f"pymalloc debug: bad memory block (API '{m.group(1)}')"
    return ""


def python_tracebacks(text: str) -> str:
    """faulthandler's dump of every thread (from its first ``Thread 0x``/``Current thread`` line)."""
    text = without_shim_lines(text)
    m = re.search(r"^(?:Fatal Python error: .*\n(?:.*\n)*?)?(?:Thread|Current thread) 0x[0-9a-f]+ \(most recent call first\):", text, re.M)
    return text[m.start() :] if m else ""


def classify(
    result: ProcResult,
    memory_errors: Sequence[MemoryErrorReport] = (),
    faulting_function: str = "",
) -> RunOutcome:
    """The :class:`RunOutcome` of a finished process (threads are not known here)."""
    if not result.started:
        return RunOutcome(RunKind.FAILED, reason=f"could not start: {result.launch_error}")
    if result.timed_out:
        return RunOutcome(RunKind.TIMEOUT, reason=f"no exit within {result.duration:.0f}s", exit_code=result.exit_code)
    if result.output_limited:
        return RunOutcome(RunKind.TIMEOUT, reason="output limit reached", exit_code=result.exit_code)
    text = without_shim_lines(result.stderr) + "\n" + result.stdout
    if memory_errors and all(e.null_page for e in memory_errors) and result.signal:
        # a read through a NULL pointer is a crash, not a memory error: nothing was freed
        first = memory_errors[0]
        return RunOutcome(
            RunKind.CRASH,
            signal=result.signal,
            reason=f"NULL pointer dereference in {first.access.function} "
                   f"({first.kind.split()[-1].lower()} at NULL+{first.address:#x})",
            memory_errors=tuple(memory_errors),
            exit_code=None,
        )
    if memory_errors:
        first = memory_errors[0]
        return RunOutcome(
            RunKind.MEMORY_ERROR,
            signal=result.signal,
            reason=f"{first.kind} in {first.access.function}",
            memory_errors=tuple(memory_errors),
            exit_code=result.exit_code,
        )
    said = reason_from_output(text)
    if result.signal == "SIGABRT":
        return RunOutcome(RunKind.ABORT, signal="SIGABRT", reason=said or faulting_function, exit_code=None)
    if result.signal:
        return RunOutcome(RunKind.CRASH, signal=result.signal, reason=faulting_function or said, exit_code=None)
    if said and result.exit_code not in (0, None):
        return RunOutcome(RunKind.ABORT, reason=said, exit_code=result.exit_code)
    if result.exit_code not in (0, None):
        return RunOutcome(RunKind.FAILED, reason=f"exit status {result.exit_code}", exit_code=result.exit_code)
    return RunOutcome(RunKind.CLEAN, exit_code=result.exit_code)
