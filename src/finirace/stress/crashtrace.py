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

import functools
import os
import re
import shutil
import subprocess
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


@functools.lru_cache(maxsize=4096)
def _addr2line(lib: str, vaddr: int) -> tuple[str, ...]:
    """The functions at ``vaddr`` of a library with DWARF, inlined ones first, or () when unknown."""
    tool = shutil.which("addr2line")
    if tool is None:
        return ()
    try:
        out = subprocess.run([tool, "-f", "-i", "-C", "-e", lib, hex(vaddr)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    names = [line.strip() for line in out.splitlines()[::2]]  # function, file:line, function, ...
    return tuple(n for n in names if n not in ("??", ""))


def _frames_at(lib: str, offset: int, exact: bool, address: str, dladdr_name: str) -> list[NativeFrame]:
    """The frame (or frames, with inlined ones) at ``offset`` in ``lib``, each named as surely as the library allows."""
    info = symbols.library(lib)
    if info is not None and info.debug_info:
        inlined = _addr2line(info.path, info.base_vaddr + offset - (0 if exact else 1))
        if inlined:
            return [NativeFrame(n, address, library=lib, language=info.language if "::" in n else "") for n in inlined]
    sym = symbols.symbolize(lib, offset, exact) if info is not None else None
    if sym is not None:
        return [NativeFrame(sym.name, address, library=lib, guess=sym.guess, language=sym.language)]
    if dladdr_name:  # the file could not be read: dladdr's name is all there is, and only a guess
        return [NativeFrame(symbols.demangle([dladdr_name])[0], address, library=lib, guess=True,
                            language=symbols.language_of(dladdr_name))]
    return [NativeFrame("??", address, library=lib, language=info.language if info else "")]


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
        frames.extend(_frames_at(f.group("lib"), int(f.group("off"), 16), f.group("kind") == "pc", f.group("addr"),
                                 f.group("sym") or ""))
    return CrashTrace(tid, sig, tuple(frames))


def without_block(text: str) -> str:
    """Text with the shim's raw backtrace block taken out (it is stored parsed)."""
    return _BLOCK.sub("", text).replace("==finirace-native-backtrace==", "")


__all__ = ["CrashTrace", "parse", "without_block"]
