"""Native frame names from the libraries' own symbol tables, and whether a name is sure or a guess.

``dladdr`` (and glibc's ``backtrace_symbols``, and gdb without debug
information) names an address by the nearest *exported* symbol before it.
In a library built with ``-fvisibility=hidden`` most functions are not
exported, so that name is some unrelated public function further up the
file (``duckdb::DuckDBPyTyping::Initialize`` for a query's inner loop).
Here a library is read with pyelftools: ``.symtab`` when it has one (local
and hidden functions included), ``.dynsym`` otherwise.  An address inside a
function symbol's ``[value, value + size)`` is named for sure; an address
past the end of every symbol is named after the nearest one before it and
marked ``guess``: a report may show it, a signature must not use it.

Names are demangled with binutils' ``c++filt`` (C++ and both Rust manglings,
already installed beside ``gcc`` and ``addr2line``), in one call per batch.
The *mangled* name says the frame's language: ``_R…`` and
``_ZN…17h<16 hex digits>E`` are Rust, other ``_Z…`` names C++, the rest C.
A frame with no name at all takes its library's language: Rust when the
library carries Rust's runtime symbols or its standard library's panic
locations (``/rustc/…``), C++ when it links a C++ runtime (``libstdc++``,
``libc++``) or imports or defines ``_Z`` names or the C++ personality
routine: a stripped C++ library still says so.  (Not ``.gcc_except_table``:
C built with ``-fexceptions``, glibc itself, has one too.)  Else C.
"""

from __future__ import annotations

import bisect
import functools
import os
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from typing import Iterable, Sequence

from finirace.detectors.backtrace import NativeFrame

_RUST_LEGACY = re.compile(r"^_ZN.*17h[0-9a-f]{16}E(\.\S*)?$")
_RUST_HASH = re.compile(r"::h[0-9a-f]{16}$")
_CXX_RUNTIME = re.compile(r"^lib(stdc\+\+|c\+\+)\.so")
_RUST_V0 = re.compile(r"^_R[0-9]*[CNMXYIB][0-9A-Za-z_]*\d[0-9A-Za-z_]*$")
_RUST_RUNTIME = re.compile(r"^(rust_eh_personality|__rust_\w+|rust_begin_unwind)$")
_STT_OBJECT, _STT_FUNC, _STT_TLS, _STT_GNU_IFUNC = 1, 2, 6, 10


def language_of(mangled: str) -> str:
    """``rust``, ``c++`` or ``c``, from a linkage name as the symbol table holds it."""
    if _RUST_V0.match(mangled) or _RUST_LEGACY.match(mangled):
        return "rust"
    if mangled.startswith("_Z"):
        return "c++"
    return "c"


@dataclass(frozen=True)
class Symbol:
    """What an address is inside: a function's name (demangled), its linkage name and language.

    ``guess`` is set when the address lies past the end of the named symbol
    (the nearest symbol before it, as dladdr would say): the function that
    ran is some unnamed one after it.
    """

    name: str
    mangled: str
    language: str
    guess: bool
    offset: int  # of the address from the symbol's start


@dataclass(frozen=True)
class Library:
    """One ELF file's function symbols, sorted by address, and what the file is built from."""

    path: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    names: tuple[str, ...]
    full_table: bool  # read from .symtab (local symbols too), not only .dynsym
    base_vaddr: int  # the first PT_LOAD's page-aligned address: where dli_fbase / the mapping start is
    language: str  # of its code as a whole: c, c++ or rust
    data_ranges: tuple[tuple[int, int, str], ...] = ()  # (start, end, name) of data objects
    debug_info: bool = False  # has DWARF (.debug_info): addr2line then names inlined frames and lines for sure

    def lookup(self, vaddr: int) -> tuple[str, bool, int] | None:
        """The mangled name at ``vaddr`` (an address as the file sees it), whether it is a guess, the offset."""
        k = bisect.bisect_right(self.starts, vaddr) - 1
        if k < 0:
            return None
        # several symbols may start at one address (aliases); any covering one is sure
        j = k
        while j >= 0 and self.starts[j] == self.starts[k]:
            if vaddr < self.ends[j]:
                return self.names[j], False, vaddr - self.starts[j]
            j -= 1
        # nested or overlapping symbols: an earlier, longer one may still cover it
        for i in range(k, max(k - 8, -1), -1):
            if self.starts[i] <= vaddr < self.ends[i]:
                return self.names[i], False, vaddr - self.starts[i]
        return self.names[k], True, vaddr - self.starts[k]

    def data_at(self, vaddr: int) -> str:
        """The data object (a global variable) holding ``vaddr``, or ``""``."""
        for start, end, name in self.data_ranges:
            if start <= vaddr < end:
                return name
        return ""


def _symbols(elf, table) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]], bool]:
    """(start, end, name) of every defined function, and of every sized data object, in one symbol table,
    and whether it uses C++ (a ``_Z`` name or the C++ personality routine, defined or imported).

    The table's bytes are unpacked in one pass (``Elf64_Sym``/``Elf32_Sym``):
    pyelftools' per-symbol objects take seconds on a library with 100 000
    symbols, which a crash report would wait for.
    """
    order = "<" if elf.little_endian else ">"
    layout = order + ("IBBHQQ" if elf.elfclass == 64 else "IIIBBH")
    raw = table.data()
    strings = elf.get_section(table["sh_link"]).data()
    size = struct.calcsize(layout)
    funcs, data = [], []
    cxx = False
    for entry in struct.iter_unpack(layout, raw[: len(raw) // size * size]):
        if elf.elfclass == 64:
            name_at, info, _other, shndx, value, length = entry
        else:
            name_at, value, length, info, _other, shndx = entry
        kind = info & 0xF
        if not cxx and name_at and strings.startswith((b"_Z", b"__gxx_personality_v0\0"), name_at):
            nm = strings[name_at : strings.find(b"\0", name_at)].decode("utf-8", "replace")
            cxx = nm == "__gxx_personality_v0" or language_of(nm) == "c++"
        if shndx == 0 or value == 0 or not name_at or kind not in (_STT_FUNC, _STT_GNU_IFUNC, _STT_OBJECT, _STT_TLS):
            continue
        name = strings[name_at : strings.find(b"\0", name_at)].decode("utf-8", "replace")
        if kind in (_STT_FUNC, _STT_GNU_IFUNC):
            funcs.append((value, value + length, name))
        elif length > 0 and kind == _STT_OBJECT:
            data.append((value, value + length, name))
    return funcs, data, cxx


@functools.lru_cache(maxsize=64)
def _load(path: str, _stamp: tuple[int, int]) -> Library | None:
    try:
        from elftools.common.exceptions import ELFError
        from elftools.elf.dynamic import DynamicSection
        from elftools.elf.elffile import ELFFile
    except ImportError:  # pragma: no cover - a dependency; names then come from dladdr alone
        return None
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            loads = [seg["p_vaddr"] & ~(max(seg["p_align"], 1) - 1) for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
            symtab = elf.get_section_by_name(".symtab")
            table = symtab if symtab is not None and symtab.num_symbols() > 0 else elf.get_section_by_name(".dynsym")
            funcs, data, cxx = _symbols(elf, table) if table is not None else ([], [], False)
            if table is not None and table.name != ".dynsym" and elf.get_section_by_name(".dynsym") is not None:
                cxx = cxx or _symbols(elf, elf.get_section_by_name(".dynsym"))[2]  # imports are in .dynsym
            rust = any(_RUST_RUNTIME.match(n) or _RUST_LEGACY.match(n) for _, _, n in funcs)
            rodata = elf.get_section_by_name(".rodata")
            rust = rust or (rodata is not None and b"/rustc/" in rodata.data())  # panic locations of Rust's std
            debug_info = elf.get_section_by_name(".debug_info") is not None
            needed: list[str] = []
            for section in elf.iter_sections():
                if isinstance(section, DynamicSection):
                    needed += [tag.needed for tag in section.iter_tags() if tag.entry.d_tag == "DT_NEEDED"]
    except (OSError, ELFError, ValueError, KeyError, AttributeError):
        return None
    funcs.sort()
    language = "rust" if rust else ("c++" if cxx or any(_CXX_RUNTIME.match(n) for n in needed) else "c")
    return Library(path, tuple(s for s, _, _ in funcs), tuple(e for _, e, _ in funcs), tuple(n for _, _, n in funcs),
                   table is symtab and symtab is not None, min(loads) if loads else 0, language, tuple(sorted(data)), debug_info)


def library(path: str) -> Library | None:
    """The library at ``path``, read once per version of the file (None when it cannot be read as ELF)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _load(os.path.realpath(path), (st.st_mtime_ns, st.st_size))


@functools.lru_cache(maxsize=8192)
def _demangled(mangled: str) -> str:
    return demangle([mangled])[0]


def demangle(names: Sequence[str]) -> list[str]:
    """Each name demangled by ``c++filt`` (unchanged when it is not mangled or c++filt is missing).

    A Rust legacy name loses its ``::h<hash>`` suffix, which changes with every build.
    """
    tool = shutil.which("c++filt")
    out = list(names)
    todo = [n for n in names if n.startswith(("_Z", "_R")) and "\n" not in n]
    if tool and todo:
        try:
            res = subprocess.run([tool], input="\n".join(todo) + "\n", capture_output=True, text=True, timeout=30)
            got = dict(zip(todo, res.stdout.splitlines()))
        except (OSError, subprocess.TimeoutExpired):
            got = {}
        out = [got.get(n, n) or n for n in names]
    return [_RUST_HASH.sub("", n) if language_of(raw) == "rust" else n for raw, n in zip(names, out)]


def symbolize(path: str, offset: int, exact: bool = False) -> Symbol | None:
    """The function holding the address ``offset`` bytes past the library's mapping start.

    ``exact`` is False for a return address (every frame but the interrupted
    one): the call itself is one byte before it, which matters when a
    ``noreturn`` call is the last instruction of its function.
    """
    lib = library(path)
    if lib is None:
        return None
    vaddr = lib.base_vaddr + offset - (0 if exact else 1)
    found = lib.lookup(vaddr)
    if found is None:
        return None
    mangled, guess, off = found
    language = language_of(mangled)
    if language == "c" and lib.language == "rust":  # a Rust library's unmangled functions are #[no_mangle] Rust
        language = "rust"
    return Symbol(_demangled(mangled), mangled, language, guess, off)


@dataclass(frozen=True)
class Mapping:
    """One file mapping of a process (``/proc/PID/maps``): addresses, file offset, path."""

    start: int
    end: int
    offset: int
    path: str
    perms: str = ""


def parse_maps(text: str) -> tuple[Mapping, ...]:
    """``/proc/PID/maps`` as :class:`Mapping` values (every line, anonymous ones with an empty path)."""
    out = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        try:
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            off = int(parts[2], 16)
        except ValueError:
            continue
        out.append(Mapping(lo, hi, off, parts[5].strip() if len(parts) > 5 else "", parts[1]))
    return tuple(out)


def locate(maps: Iterable[Mapping], address: int) -> tuple[str, int] | None:
    """The file an address is in and its offset from that file's first mapping (dladdr's ``dli_fbase``)."""
    maps = tuple(maps)
    for m in maps:
        if m.start <= address < m.end and m.path.startswith("/"):
            base = min((x.start - x.offset for x in maps if x.path == m.path and x.offset == 0), default=m.start - m.offset)
            return m.path, address - base
    return None


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


def name_frames(path: str, offset: int, exact: bool, address: str = "", fallback: str = "") -> list[NativeFrame]:
    """The frame (or frames, inlined ones first) at ``offset`` past the start of library ``path``, named as surely as it allows.

    The one naming both the shim's crash backtraces and gdb's frames go
    through, so a crash gets the same names, and so the same signature,
    whoever printed its stack: ``addr2line -i`` when the library has DWARF,
    else its symbol table (a name past every symbol's end marked ``guess``),
    else ``fallback`` (dladdr's or gdb's name: the nearest symbol, a guess),
    else ``??``.  A guessed frame takes its library's language, not the
    guessed name's.
    """
    lib = library(path)
    sym = symbolize(path, offset, exact) if lib is not None else None
    if lib is not None and lib.debug_info:
        inlined = _addr2line(lib.path, lib.base_vaddr + offset - (0 if exact else 1))
        if inlined:  # all of one physical frame: the language of the function the symbol table holds there
            language = sym.language if sym is not None and not sym.guess else lib.language
            return [NativeFrame(n, address, library=path, language=language) for n in inlined]
    if sym is not None:
        return [NativeFrame(sym.name, address, library=path, guess=sym.guess,
                            language=lib.language if sym.guess else sym.language)]
    if fallback and fallback != "??":  # the file could not be read or has no symbols: a guess at best
        return [NativeFrame(_demangled(fallback), address, library=path, guess=True,
                            language=lib.language if lib else language_of(fallback))]
    return [NativeFrame("??", address, library=path, language=lib.language if lib else "")]


def resolve(frames: Sequence[NativeFrame], maps: Sequence[Mapping]) -> tuple[NativeFrame, ...]:
    """gdb's frames named as the shim's are (:func:`name_frames`) where gdb had no debug information, with languages.

    A frame gdb named from DWARF (``at file:line``) keeps its name (gdb
    shows inlined frames itself, as ``addr2line -i`` does); one gdb named
    from a symbol table only (``from lib``: for a stripped library, the
    nearest exported symbol before the address, even one that ends before
    it) or not at all (``??``) is named by its address in its library, from
    the process's mappings, a guess marked.  A frame without an address (an
    inlined function) takes the language of the frame it is inlined into,
    the next with an address.
    """
    out: list[NativeFrame] = []
    for n, f in enumerate(frames):
        where = locate(maps, int(f.address, 16)) if f.address and maps else None
        if where is None:
            out.append(f)
            continue
        path, offset = where
        if f.file:  # gdb read DWARF: its name is sure
            sym = symbolize(path, offset, exact=n == 0)
            lib = library(path)
            lang = sym.language if sym is not None and not sym.guess else (lib.language if lib else "")
            out.append(NativeFrame(f.function, f.address, f.file, f.line, path, False, lang))
        else:
            out.extend(name_frames(path, offset, n == 0, f.address, f.function))
    # inlined frames: the language of the physical frame they are part of
    for k in range(len(out) - 2, -1, -1):
        if not out[k].address and not out[k].language and out[k + 1].language:
            f = out[k]
            out[k] = NativeFrame(f.function, f.address, f.file, f.line, f.library, f.guess, out[k + 1].language)
    return tuple(out)


__all__ = ["Library", "Mapping", "Symbol", "demangle", "language_of", "library", "locate", "name_frames", "parse_maps", "resolve", "symbolize"]
