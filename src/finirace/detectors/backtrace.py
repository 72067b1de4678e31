"""Native backtraces of every thread, from gdb, as values.

gdb is always run with ``-nx -batch``: no user ``.gdbinit`` changes what we
parse, and gdb never waits for input.  ``thread apply all bt`` prints one
block per thread::

    Thread 2 (Thread 0x7f.. (LWP 4242) "python3"):
    #0  0x00007f.. in take_gil (tstate=0x..) at Python/ceval_gil.c:215
    #1  PyEval_RestoreThread (tstate=..) at Python/ceval.c:500
    #2  0x00007f.. in ?? () from /lib/x86_64-linux-gnu/libc.so.6

which :func:`parse_backtraces` turns into :class:`NativeThread` values.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass

from finirace import proc

_THREAD = re.compile(r'^Thread (\d+) \((.*?)\):\s*$')
_FRAME_START = re.compile(r"^#\d+\s")
_FRAME_HEAD = re.compile(r"^#(\d+)\s+(?:(0x[0-9a-fA-F]+) in )?(.*)$")
_FRAME_TAIL = re.compile(r"\s+(?:at (\S+):(\d+)|from (\S+))$")
_LWP = re.compile(r"LWP (\d+)")
_PTHREAD = re.compile(r"^Thread (0x[0-9a-fA-F]+)")
_TNAME = re.compile(r'"([^"]*)"\s*\)?$')
_FRAME = re.compile(
    r"^#(\d+)\s+(?:(0x[0-9a-fA-F]+) in )?(\S+?)\s*(\(.*?\))?\s*(?:at (\S+?):(\d+)|from (\S+))?\s*$"
)


_GLIBC_DIRS = frozenset({"sysdeps", "nptl", "stdlib", "signal", "posix", "misc", "string", "malloc", "elf", "libio",
                         "io", "time", "csu", "assert", "dlfcn", "setjmp", "socket", "resource"})
CRASHED = ("crash", "abort", "memory-error")  # run kinds whose stack text leads with the thread that failed
_SO_VERSION_TAIL = re.compile(r"(\.so\.\d+)(?:\.\w+)+$")  # libffi.so.8.1.2 -> libffi.so.8
_SYSTEM_LIBS = re.compile(r"^(libc|libpthread|libdl|libgcc_s|libstdc\+\+|ld-linux[\w-]*|finirace-shim-\w+)([.-].*)?\.so")


@dataclass(frozen=True)
class NativeFrame:
    """One native frame: function (``??`` when unknown), where it is, its address.

    ``guess`` marks a name that is only the nearest symbol before the address
    (dladdr's answer, or a symbol table's for an address past every symbol's
    end): shown in reports, never used in a signature (:attr:`signature_name`).
    ``language`` is ``c``, ``c++`` or ``rust`` when known (from the mangled
    name, or for an unnamed frame from its library), else empty.
    """

    function: str
    address: str = ""
    file: str = ""
    line: int | None = None
    library: str = ""
    guess: bool = False
    language: str = ""

    def __str__(self) -> str:
        where = f" at {self.file}:{self.line}" if self.file else (f" from {self.library}" if self.library else "")
        return f"{self.function}{' (guess: nearest symbol)' if self.guess else ''}{where}"

    @property
    def system(self) -> bool:
        """A frame of the C library, the loader or the shim, not of the program: a signature walks past it.

        Known by its library (``from /lib/…/libc.so.6``), or, where gdb read
        glibc's debug info, by its source file (``./nptl/sem_waitcommon.c``):
        the same frame must be judged alike whoever printed the stack, the
        shim or gdb, and whether or not debug info was installed.
        """
        base = os.path.basename(self.library)
        if base and _SYSTEM_LIBS.match(base):
            return True
        top = self.file.lstrip("./").split("/", 1)[0] if "/" in self.file else ""
        return self.file.startswith(".") and top in _GLIBC_DIRS

    @property
    def signature_name(self) -> str:
        """The name a signature may use: a guessed or unknown one becomes its library (``libfoo.so+?``),
        or ``??`` (skipped) in a system library, whose internals tell no bugs apart."""
        if not self.guess and self.function != "??":
            return self.function
        base = os.path.basename(self.library)
        # the shim names a library by the path it was loaded as (libffi.so.8, the soname's link),
        # gdb's mappings by the file itself (libffi.so.8.1.2): one name, the soname's, for both
        base = _SO_VERSION_TAIL.sub(r"\1", base)
        return "??" if not base or _SYSTEM_LIBS.match(base) else f"{base}+?"


@dataclass(frozen=True)
class NativeThread:
    """One thread's native stack, innermost frame first."""

    number: int
    lwp: int | None
    name: str
    frames: tuple[NativeFrame, ...]
    pthread: int | None = None  # the thread's pthread_t (Python's threading.get_ident())

    def functions(self) -> tuple[str, ...]:
        return tuple(f.function for f in self.frames)


def _split_args(rest: str) -> str:
    """``name (args)`` → ``name``: the trailing balanced parenthesis group is the arguments.

    Names may hold spaces and parentheses of their own (``std::vector<int,
    std::allocator<int> >::push_back``, ``(anonymous namespace)::run``).
    """
    rest = rest.rstrip()
    if not rest.endswith(")"):
        return rest
    depth = 0
    for i in range(len(rest) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(rest[i], 0)
        if depth == 0:
            return rest[:i].rstrip() or rest
    return rest


def parse_frames(lines: list[str]) -> tuple[NativeFrame, ...]:
    frames = []
    for line in lines:
        line = line.strip()
        m = _FRAME.match(line)
        if m and " " not in m.group(3):
            _, addr, fn, _args, file, lineno, lib = m.groups()
            frames.append(NativeFrame(fn, addr or "", file or "", int(lineno) if lineno else None, lib or ""))
            continue
        head = _FRAME_HEAD.match(line)
        if not head:
            continue
        _, addr, rest = head.groups()
        tail = _FRAME_TAIL.search(rest)
        file = lib = ""
        lineno = None
        if tail:
            file, lineno, lib = tail.group(1) or "", int(tail.group(2)) if tail.group(2) else None, tail.group(3) or ""
            rest = rest[: tail.start()]
        frames.append(NativeFrame(_split_args(rest) or "??", addr or "", file, lineno, lib))
    return tuple(frames)


def parse_backtraces(text: str) -> tuple[NativeThread, ...]:
    """Every ``Thread N (...)`` block of gdb output, in the order printed."""
    threads: list[NativeThread] = []
    head: tuple[int, str] | None = None
    body: list[str] = []

    def flush() -> None:
        if head is None:
            return
        number, inside = head
        lwp = _LWP.search(inside)
        name = _TNAME.search(inside)
        pthread = _PTHREAD.match(inside)
        threads.append(NativeThread(number, int(lwp.group(1)) if lwp else None, name.group(1) if name else "", parse_frames(body),
                                    int(pthread.group(1), 16) if pthread else None))

    for line in text.splitlines():
        m = _THREAD.match(line.strip())
        if m:
            flush()
            head, body = (int(m.group(1)), m.group(2)), []
        elif head is not None and line.lstrip().startswith("#"):
            body.append(line)
    flush()
    return tuple(threads)


def stacks_only(text: str) -> str:
    """gdb's output cut down to the stacks: ``Thread N (…)`` headings and ``#N`` frames.

    What gdb says around them (``auto-loading has been declined``, the
    safe-path advice, ``[New LWP …]``, the source line it stopped at) is
    noise in a report.  Output with no stack at all (gdb could not attach) is
    kept whole, since it says why.
    """
    kept: list[str] = []
    for line in text.splitlines():
        bare = line.strip()
        if _THREAD.match(bare):
            if kept:
                kept.append("")
            kept.append(bare)
        elif _FRAME_START.match(bare):  # the faulting thread's ``bt`` comes with no heading
            kept.append(bare)
    return "\n".join(kept) + "\n" if kept else text


def stack_tail(text: str, size: int) -> str:
    """The last ``size`` characters of a stack text, starting at a whole thread or frame, never mid-frame.

    A thread heading inside the tail is the preferred start; else a frame line.
    """
    if len(text) <= size:
        return text
    cut = text[-size:]
    lines = cut.splitlines(keepends=True)[1:]  # the first line is cut
    for start in (lambda ln: _THREAD.match(ln.strip()), lambda ln: _FRAME_START.match(ln.strip())):
        for k, line in enumerate(lines):
            if start(line):
                return "".join(lines[k:])
    return "".join(lines)


def stack_head(text: str, size: int) -> str:
    """The first ``size`` characters of a stack text, ending before a whole thread or frame, never mid-frame.

    For a crash, whose text leads with the thread that crashed, innermost frame first:
    its head is what tells the bug (a tail would keep the other threads' outermost frames).
    """
    if len(text) <= size:
        return text
    lines = text[:size].splitlines(keepends=True)
    if lines and not text[:size].endswith("\n"):
        lines.pop()  # the last line is cut
    # the last frame kept may continue on lines past the cut: end before it, unless it is the only one
    for k in range(len(lines) - 1, 0, -1):
        if _THREAD.match(lines[k].strip()) or _FRAME_START.match(lines[k].strip()):
            return "".join(lines[:k])
    return "".join(lines)


def stack_cut(text: str, size: int, crashed: bool) -> str:
    """A crash's stack kept from its head (the crashing thread), any other (a hang's) from its tail."""
    return stack_head(text, size) if crashed else stack_tail(text, size)


def gdb_missing() -> str | None:
    return None if shutil.which("gdb") else "gdb is not installed (apt-get install gdb)"


def attach_backtraces(pid: int, timeout: float = 30.0) -> str:
    """Attach gdb to a running process and return every thread's backtrace, as printed.

    Used as :func:`finirace.proc.run`'s ``on_timeout`` for hung targets.  The
    process is detached afterwards (gdb's batch mode detaches on exit), so the
    caller's kill still applies.  Never raises: an error is returned as text.
    """
    missing = gdb_missing()
    if missing:
        return missing
    r = proc.run(
        ["gdb", "-nx", "-batch", "-p", str(pid), "-ex", "set pagination off", "-ex", "thread apply all bt"],
        timeout=timeout,
        tail_bytes=256 * 1024,
    )
    if not r.started:
        return r.launch_error or "gdb did not start"
    return stacks_only(r.stdout + (("\n" + r.stderr) if r.stderr.strip() else ""))
