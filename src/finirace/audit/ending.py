"""How an audited run ended, and which thread ended it.

A run that dies after the snapshot (SIGABRT from ``std::terminate``, a
SIGSEGV, a ``Fatal Python error``) is tied to the thread that caused it:
the stress shim, preloaded into the audited run, prints the stack of each
thread that crashes, tagged with its native id, and says whose signal ended
the process (two threads may abort at once: the one that ended it is the
one named); faulthandler names the current thread by
its ``ident`` ("Current thread 0x…"); and the messages the runtime and the
C++ runtime print before they abort are read from stderr.  Both ids were
recorded by the hook for every thread, so the report can say "SIGABRT in
thread *engine*, the daemon flagged above".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from finirace.detectors.backtrace import NativeFrame
from finirace.proc import ProcResult
from finirace.stress import crashtrace

_MESSAGE = re.compile(
    r"^(Fatal Python error: .*|terminate called .*|FATAL: exception not rethrown.*|.*Assertion .* failed.*"
    r"|.*Segmentation fault.*|pure virtual method called.*)$", re.M)
_FH_CURRENT = re.compile(r"^(?:Current thread|Thread) (0x[0-9a-f]+) \(most recent call first\)", re.M)
_FH_CURRENT_ONLY = re.compile(r"^Current thread (0x[0-9a-f]+) \(most recent call first\)", re.M)


@dataclass(frozen=True)
class Ending:
    """What ended the run: signal or fatal message, and the thread it came from when known."""

    signal: str
    message: str
    native_id: int | None  # from the shim's crash backtrace
    ident: int | None  # from faulthandler's "Current thread"
    frames: tuple[NativeFrame, ...]  # the faulting thread's native stack, from the shim

    def text(self) -> str:
        what = " ".join(x for x in (f"killed by {self.signal}" if self.signal else "", self.message) if x)
        return what or "ended"


def ending(result: ProcResult) -> Ending | None:
    """The end of a run that crashed or aborted (None for an ordinary exit or a timeout)."""
    if not result.signal and not _MESSAGE.search(crashtrace.without_block(result.stderr or "")):
        return None
    trace = crashtrace.parse(result.stderr or "")
    stderr = crashtrace.without_block(result.stderr or "")  # a shim line may have landed inside a message
    m = _MESSAGE.search(stderr)
    current = _FH_CURRENT_ONLY.search(stderr)
    return Ending(result.signal or "", m.group(1).strip() if m else "", trace.thread if trace else None,
                  int(current.group(1), 16) if current else None, trace.frames if trace else ())


def stderr_tail(stderr: str, lines: int = 12) -> list[str]:
    """The last lines a run wrote to stderr, the shim's raw backtrace taken out (it is shown parsed)."""
    text = crashtrace.without_block(stderr or "")
    return [ln for ln in text.rstrip().splitlines() if ln.strip()][-lines:]


__all__ = ["Ending", "ending", "stderr_tail"]
