"""The shim's crash backtraces, read back: which threads died of which signal, through which frames, and whose signal ended the run.

The shim (``shim.c``) prints, from inside the crashing process, one line per
event, each written with one ``writev`` and tagged with the thread's native
id (``==finirace-bt== T<tid> …``): ``signal N`` when the thread's handler
starts, one ``frame`` line per frame from the interrupted one outwards (its
own handler and the kernel's signal trampoline are not printed), ``end``
when its stack is complete, and ``ends N`` from the one thread whose signal
ends the process.  Two threads that crash at once (two daemon threads
aborting in one finalization) each print their stack; their lines may
interleave with each other's and with whatever else is written to stderr
(faulthandler, the C++ runtime), even land mid-line, but a line is never
cut, so :func:`parse` groups them back by thread.  The thread that ended
the run leads (its stack makes the signature, and the audit ties the
run's signal to it); without an ``ends`` line (the process was killed
first) the first thread that started printing leads.

A frame line holds the address, whether it is the faulting instruction
(``pc``) or a return address (``ra``), its offset in its library, the
library, and dladdr's name.  dladdr's name is only the nearest *exported*
symbol, wrong in any library built with hidden visibility, so each frame is
named here from the library itself (:func:`finirace.detectors.symbols.name_frames`,
the code that names gdb's frames too): by ``addr2line -i`` when the library
has DWARF (inlined functions first, as gdb shows them), else by its symbol
table (``.symtab``, local symbols included, or ``.dynsym``); a name that is
only the nearest symbol before the address is kept with ``guess`` set, so a
signature does not use it.  This runs where the run ran (a Dask worker
too), while the libraries are there to read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from finirace.detectors import symbols
from finirace.detectors.backtrace import NativeFrame
from finirace.detectors.classify import SHIM_LINE, without_shim_lines

_FRAME = re.compile(r"^frame (?P<addr>0x[0-9a-f]+) (?P<kind>pc|ra) (?P<off>0x[0-9a-f]+|-) (?P<lib>[^\t]*)(?:\t(?P<sym>.*)\+(?P<soff>0x[0-9a-f]+))?$")
OTHER_FRAMES = 16  # frames shown of each thread that crashed beside the one that ended the run
_EVENT = re.compile(r"^(?P<what>signal|ends) (?P<sig>\d+)$")


@dataclass(frozen=True)
class CrashTrace:
    """One crashed thread as the shim saw it: native id, signal number, frames innermost first.

    :func:`parse` returns the thread whose signal ended the run, with the
    other threads that crashed at the same moment in ``others``;
    ``complete`` is False when the process died before the thread's stack
    was all printed.
    """

    thread: int | None
    signal: int | None
    frames: tuple[NativeFrame, ...]
    complete: bool = True
    others: tuple["CrashTrace", ...] = ()

    def text(self) -> str:
        """The stacks as a report shows them, the ending thread's first, one frame a line, guesses marked."""
        ended = f"signal {self.signal} ended the run" if self.others and self.signal else ""
        lines = [self._head("faulting thread", ended), *(f"  {f}" for f in self.frames)]
        for other in self.others:  # their innermost frames: the stored text is bounded and must keep the ending thread's
            lines += [other._head("also crashing: thread", f"signal {other.signal}" if other.signal else ""),
                      *(f"  {f}" for f in other.frames[:OTHER_FRAMES])]
            if len(other.frames) > OTHER_FRAMES:
                lines.append(f"  … {len(other.frames) - OTHER_FRAMES} more frames")
        return "\n".join(lines)

    def _head(self, what: str, said: str) -> str:
        notes = [n for n in (said, "" if self.complete else "cut short by the process's end") if n]
        return f"{what}{f' {self.thread}' if self.thread else ''} (shim backtrace{''.join(', ' + n for n in notes)}):"


def _frames(lines: list[str]) -> tuple[NativeFrame, ...]:
    frames: list[NativeFrame] = []
    for line in lines:
        f = _FRAME.match(line)
        if not f:
            continue
        if f.group("off") == "-":
            frames.append(NativeFrame("??", f.group("addr")))
            continue
        frames.extend(symbols.name_frames(f.group("lib"), int(f.group("off"), 16), f.group("kind") == "pc", f.group("addr"),
                                          f.group("sym") or ""))
    return tuple(frames)


def parse(stderr: str) -> CrashTrace | None:
    """The shim's crash backtraces in a run's stderr, grouped by thread, or None when it printed none."""
    order: list[int] = []
    lines: dict[int, list[str]] = {}
    signals: dict[int, int] = {}
    done: set[int] = set()
    ended: int | None = None
    for m in SHIM_LINE.finditer(stderr or ""):
        tid, what = int(m.group("tid")), m.group("what").rstrip("\r")
        if tid not in lines:
            order.append(tid)
            lines[tid] = []
        event = _EVENT.match(what)
        if what.startswith("frame "):
            lines[tid].append(what)
        elif what == "end":
            done.add(tid)
        elif event:
            signals.setdefault(tid, int(event.group("sig")))
            if event.group("what") == "ends" and ended is None:
                ended = tid
    if not order:
        return None
    traces = {tid: CrashTrace(tid, signals.get(tid), _frames(lines[tid]), tid in done) for tid in order}
    lead = ended if ended is not None else order[0]
    return replace(traces[lead], others=tuple(traces[t] for t in order if t != lead))


def without_block(text: str) -> str:
    """Text with the shim's lines taken out (they are stored parsed); a line of another writer they cut is whole again."""
    return without_shim_lines(text)


__all__ = ["CrashTrace", "parse", "without_block"]
