"""Crash signatures: one normalized line per bug, so its crashes land in one bucket.

The recipe is Socorro's and ClusterFuzz's: a crash type (run kind plus the
signal, or the fatal-error text), then the top frames of the faulting thread
after walking past irrelevant ones (libc, pthread internals, the allocator,
signal plumbing: ``data/skip_frames.txt``) and past frames too common to tell
crashes apart (the eval loop, call plumbing: ``data/prefix_frames.txt``), but
stopping at the interpreter's entry points for threads coming back from C
(``data/end_frames.txt``): below them is only whichever extension released
the GIL, which does not tell bugs apart.  A thread-exit abort (pthread_exit's
forced unwind through a C++ ``noexcept`` frame: ``data/thread_exit_frames.txt``)
is the exception: every package's shares the unwinder and the GIL entry
points, so those are walked past and the package's own frame that called
back into Python names the bucket.  The lists are plain data, one regular
expression a line.

Frames are normalized: no addresses, offsets, argument lists, compiler clone
suffixes (``.isra.0``, ``.cold``) or directories.  Native frames come from the
preloaded shim's crash backtrace (``crashtrace.py``: named from the libraries'
own symbol tables; a name that is only a guess is never used, its library
stands in: ``libfoo.so+?``) or from gdb;
without any, the faulting thread's Python frames from faulthandler are used
(``py:file.py:function``, no line numbers: the same bug crashes on
neighbouring lines).
"""

from __future__ import annotations

import functools
import os
import re
from importlib import resources
from typing import Iterable, Sequence

from finirace.detectors.backtrace import NativeFrame
from finirace.detectors.classify import without_shim_lines
from finirace.outcome import RunKind, RunOutcome

DEPTH = 3
THREAD_EXIT_ABORT = "abort thread exit unwound through noexcept"  # the crash type of a thread-exit abort
_FH_CURRENT = re.compile(r"^Current thread 0x[0-9a-f]+ \(most recent call first\):\n((?:  .*\n?)*)", re.M)
_FH_FRAME = re.compile(r'^\s+File "(?P<file>[^"]*)", line \d+ in (?P<fn>\S+)')
_CLONE = re.compile(r"\.(isra|part|constprop|cold|lto_priv|localalias)(\.\d+)?")
_ARGS = re.compile(r"\(.*\)$")


@functools.lru_cache(maxsize=1)
def _lists() -> tuple[tuple[re.Pattern[str], ...], ...]:
    def load(name: str) -> tuple[re.Pattern[str], ...]:
        text = (resources.files("finirace.stress") / "data" / name).read_text()
        return tuple(re.compile(line.strip()) for line in text.splitlines() if line.strip() and not line.startswith("#"))

    return load("skip_frames.txt"), load("prefix_frames.txt"), load("end_frames.txt")


@functools.lru_cache(maxsize=1)
def _thread_exit_lists() -> tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]:
    """The markers of a thread-exit unwind and the frames such an abort walks past."""
    text = (resources.files("finirace.stress") / "data" / "thread_exit_frames.txt").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return (tuple(re.compile(line[len("marker "):].strip()) for line in lines if line.startswith("marker ")),
            tuple(re.compile(line) for line in lines if not line.startswith("marker ")))


def _name(raw: str | NativeFrame) -> str:
    return normalize_frame(raw if isinstance(raw, str) else raw.signature_name)  # never a guessed name


def thread_exit_unwind(frames: Sequence[str | NativeFrame]) -> bool:
    """Whether a stack is pthread_exit's forced unwind (``_Unwind_ForcedUnwind``, ``pthread_exit``):
    system frames count here, since they are what shows it, but never by a guessed name."""
    markers, _ = _thread_exit_lists()
    return any(any(rx.fullmatch(_name(f)) for rx in markers) for f in frames)


def normalize_frame(name: str) -> str:
    """``take_gil.isra.0(tstate=0x1)`` → ``take_gil``; paths lose their directories."""
    name = _ARGS.sub("", name.strip())
    name = _CLONE.sub("", name)
    if "/" in name:
        name = name.rsplit("/", 1)[1]
    return re.sub(r"0x[0-9a-fA-F]+", "0x?", name)


def without_shim_block(text: str) -> str:
    """Text with the shim's crash backtrace lines taken out (it is stored parsed)."""
    return without_shim_lines(text)


def python_frames(faulthandler_dump: str) -> list[str]:
    """The faulting ("Current") thread's Python frames from faulthandler, innermost first."""
    m = _FH_CURRENT.search(faulthandler_dump)
    if not m:
        return []
    out = []
    for line in m.group(1).splitlines():
        f = _FH_FRAME.match(line)
        if f:
            out.append(f"py:{os.path.basename(f.group('file'))}:{f.group('fn')}")
    return out


def top_frames(frames: Iterable[str | NativeFrame], depth: int = DEPTH, thread_exit: bool = False) -> list[str]:
    """At most ``depth`` frames: skipped and generic frames walked past, none past an end frame.

    A signature therefore never has more than ``depth`` frames (the docs say
    3): a generic frame (``_PyEval_EvalFrameDefault``, ``cfunction_vectorcall_O``)
    neither shows nor counts, so the frames that tell bugs apart fill the line.
    With ``thread_exit`` the unwinder's and the GIL's frames are walked past
    too and end frames do not end it, so the package's frame shows.  A frame
    that names the function just kept (an inlined copy, or recursion whose
    depth varies from run to run) is walked past too: it tells no bug apart.
    """
    skip, generic, end = _lists()
    if thread_exit:
        skip = skip + _thread_exit_lists()[1]
        end = ()
    kept: list[str] = []
    for raw in frames:
        if not isinstance(raw, str) and raw.system:  # libc, the loader, the shim: not the program's
            continue
        name = _name(raw)
        if not name or any(rx.fullmatch(name) for rx in skip) or any(rx.fullmatch(name) for rx in generic):
            continue
        if kept and kept[-1] == name:
            continue
        kept.append(name)
        if len(kept) >= depth or any(rx.fullmatch(name) for rx in end):
            break
    return kept


_MSG_ADDR = re.compile(r"0x[0-9a-fA-F]+|0x…")
_MSG_NUMBER = re.compile(r"(?<![A-Za-z_0-9])(?!0x\?)\d+")
MESSAGE_WIDTH = 160  # characters of a message kept in a signature


def normalize_message(text: str) -> str:
    """A message as a signature keeps it: one line, addresses and numbers made alike.

    Two wordings of one abort that differ only by an address or a count
    (``Timeout after 1200ms``, ``after 1300ms``) are one bug, so they must be
    one bucket; a number inside a name (``sha256``) is kept.
    """
    text = " ".join(text.split())
    text = _MSG_ADDR.sub("0x?", text)
    return _MSG_NUMBER.sub("N", text)[:MESSAGE_WIDTH]


def failure_line(stderr: str) -> str:
    """What a run that exited the ordinary way last said: its last non-blank line of stderr, normalized."""
    for line in reversed(stderr.splitlines()):
        if line.strip():
            return normalize_message(line)
    return ""


def crash_type(outcome: RunOutcome) -> str:
    """``crash SIGSEGV``, ``abort Fatal Python error: …``, ``memory-error Invalid read …``, ``timeout``, ``failed exit status 2``."""
    kind, signal, reason = outcome.kind, outcome.signal, outcome.reason
    if kind is RunKind.CRASH:
        return f"crash {signal or ''}".strip()
    if kind is RunKind.ABORT:
        return f"abort {normalize_message(reason) or signal or ''}".strip()
    if kind is RunKind.FAILED:  # "exit status 2", "could not start: [Errno 2] …"
        return f"failed {normalize_message(reason) if reason.startswith('could not') else reason}".strip()
    if kind is RunKind.MEMORY_ERROR:
        return f"memory-error {reason.split(' in ')[0] if reason else ''}".strip()
    return kind.value  # timeout, and any kind with nothing more to say


def signature(outcome: RunOutcome, native: Sequence[str | NativeFrame] = (), python: Sequence[str] = (), depth: int = DEPTH,
              stderr: str = "") -> str:
    """The bucket key of one failed run: crash type, then ``|``-joined top frames.

    A run that exited non-zero the ordinary way has no frames to show: its
    key is the exit status and the last line it wrote to stderr (what a
    user reads first: ``can't open file …``, ``ValueError: …``).
    """
    if outcome.kind is RunKind.FAILED:
        said = failure_line(stderr)
        return " | ".join([crash_type(outcome), *([said] if said else [])])
    thread_exit = outcome.kind is RunKind.ABORT and thread_exit_unwind(native)
    frames = top_frames(native, depth, thread_exit) or top_frames(python, depth)
    # its message varies with how many threads terminate at once ("terminate called
    # recursively", two fatal-error texts interleaved): one kind, whatever it said
    kind = THREAD_EXIT_ABORT if thread_exit else crash_type(outcome)
    return " | ".join([kind, *frames])
