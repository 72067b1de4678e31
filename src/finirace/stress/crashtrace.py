"""The stress shim's crash backtrace, read back: which thread died of which signal, through which frames.

The shim (``shim.c``) prints, from inside the crashing process, the faulting
thread's native id, the signal, and one line per frame from the interrupted
one outwards (its own handler and the kernel's signal trampoline are not
printed): the address, whether it is the faulting instruction (``pc``) or a
return address (``ra``), its offset in its library, the library, and
dladdr's name.  dladdr's name is only the nearest *exported* symbol, wrong in
any library built with hidden visibility, so each frame is named here from
the library itself (:mod:`finirace.detectors.symbols`): by ``addr2line -i``
when the library has DWARF (inlined functions first, as gdb shows them),
else by its symbol table (``.symtab``, local symbols included, or
``.dynsym``); a name that is only the nearest symbol before the address is
kept with ``guess`` set, so a signature does not use it.  This runs where
the run ran (a Dask worker too), while the libraries are there to read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from finirace.detectors import symbols
from finirace.detectors.backtrace import NativeFrame

_BLOCK = re.compile(r"==finirace-native-backtrace==\n(.*?)==finirace-native-backtrace-end==", re.S)
_HEAD = re.compile(r"^thread (?P<tid>\d+) signal (?P<sig>\d+)$")
_FRAME = re.compile(r"^frame (?P<addr>0x[0-9a-f]+) (?P<kind>pc|ra) (?P<off>0x[0-9a-f]+|-) (?P<lib>[^\t]*)(?:\t(?P<sym>.*)\+(?P<soff>0x[0-9a-f]+))?$")


@dataclass(frozen=True)
class CrashTrace:
    """One crash as the shim saw it: the faulting thread's native id, the signal number, its frames innermost first."""

    thread: int | None
    signal: int | None
    frames: tuple[NativeFrame, ...]

    def text(self) -> str:
        """The stack as a report shows it, one frame a line, guesses marked."""
        head = "faulting thread" + (f" {self.thread}" if self.thread else "") + " (shim backtrace):"
        return "\n".join([head, *(f"  {f}" for f in self.frames)])


def parse(stderr: str) -> CrashTrace | None:
    """The shim's crash backtrace in a run's stderr, or None when it printed none."""
    m = _BLOCK.search(stderr)
    if not m:
        return None
    tid = sig = None
    frames: list[NativeFrame] = []
    for line in m.group(1).splitlines():
        line = line.strip("\r")
        head = _HEAD.match(line)
        if head:
            tid, sig = int(head.group("tid")), int(head.group("sig"))
            continue
        f = _FRAME.match(line)
        if not f:
            continue
        if f.group("off") == "-":
            frames.append(NativeFrame("??", f.group("addr")))
            continue
        frames.extend(symbols.name_frames(f.group("lib"), int(f.group("off"), 16), f.group("kind") == "pc", f.group("addr"),
                                          f.group("sym") or ""))
    return CrashTrace(tid, sig, tuple(frames))


def without_block(text: str) -> str:
    """Text with the shim's raw backtrace block taken out (it is stored parsed)."""
    return _BLOCK.sub("", text).replace("==finirace-native-backtrace==", "")


__all__ = ["CrashTrace", "parse", "without_block"]
