"""valgrind memcheck as a detector, and its XML report read into MemoryErrorReports.

Why XML: the text report interleaves with the target's own stderr and its
wording changes between releases; ``--xml=yes --xml-file=F`` is a stable,
separate channel.  Why ``PYTHONMALLOC=malloc``: pymalloc carves objects out
of its own arenas, so a use of a freed thread state would read memory that
valgrind still sees as allocated and nothing would be reported.

Why ``--undef-value-errors=no``: memcheck then stops tracking whether each bit
of every value is defined, and checks only whether each access hits memory that
is allocated (addressability), which is what an invalid read, write or free (a
use of freed memory among them) is.  The uninitialised-value reports it no
longer makes are reports finirace never counted (``MEMORY_KINDS``), and
CPython's start-up under ``PYTHONMALLOC=malloc``, most of a short run, costs
15-25 % less CPU (docs/lab.md).

The report of a killed run (time-out) may be cut short: errors are read one
``<error>`` element at a time, so the complete ones still count.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

from finirace.detectors.base import Detection, Detector, Prepared
from finirace.detectors.classify import classify, python_tracebacks
from finirace.outcome import NULL_PAGE_SIZE, Access, MemoryErrorReport
from finirace.proc import ProcResult

# Error kinds that are memory errors in the sense of DESIGN.md; leaks and
# uninitialised-value reports are left out (CPython's own start-up makes some).
MEMORY_KINDS = {
    "InvalidRead": "Invalid read",
    "InvalidWrite": "Invalid write",
    "InvalidFree": "Invalid free",
    "MismatchedFree": "Mismatched free",
    "InvalidJump": "Invalid jump",
    "InvalidMemPool": "Invalid mempool",
}
# frames that are the allocator itself, skipped when naming who freed or allocated
ALLOCATOR_FUNCTIONS = {
    "free", "malloc", "calloc", "realloc", "reallocarray", "memalign", "posix_memalign",
    "operator delete(void*)", "operator delete(void*, unsigned long)", "operator new(unsigned long)",
    "_PyMem_RawFree", "_PyMem_RawMalloc", "_PyMem_RawCalloc", "_PyMem_RawRealloc",
    "PyMem_RawFree", "PyMem_RawMalloc", "PyMem_RawCalloc", "PyMem_RawRealloc",
}
# valgrind groups digits ("a block of size 2,272"): a number is digits and commas
_INSIDE = re.compile(r"is ([\d,]+) bytes (?:inside|after|before) a block of size ([\d,]+)")
_SIZE = re.compile(r"of size ([\d,]+)")
_ADDRESS = re.compile(r"Address (0x[0-9a-fA-F]+)")


def _number(text: str) -> int:
    return int(text.replace(",", ""))
_ERROR = re.compile(rb"<error>.*?</error>", re.S)


def _frame_text(frame: ET.Element) -> str:
    fn = frame.findtext("fn") or "???"
    file, line = frame.findtext("file"), frame.findtext("line")
    obj = frame.findtext("obj")
    if file:
        return f"{fn} ({file}:{line})"
    return f"{fn} (in {obj})" if obj else fn


def _access(stack: ET.Element | None, thread: str) -> Access:
    if stack is None:
        return Access(thread, "???")
    frames = stack.findall("frame")
    texts = tuple(_frame_text(f) for f in frames)
    function = "???"
    for f in frames:
        fn = f.findtext("fn") or "???"
        if fn not in ALLOCATOR_FUNCTIONS:
            function = fn
            break
    return Access(thread, function, None, texts)


def parse_valgrind_xml(data: bytes | str, kinds: Mapping[str, str] = MEMORY_KINDS) -> tuple[MemoryErrorReport, ...]:
    """Every memory error of a memcheck XML report (complete ``<error>`` elements only)."""
    raw = data.encode() if isinstance(data, str) else data
    reports = []
    for chunk in _ERROR.findall(raw):
        try:
            err = ET.fromstring(chunk)
        except ET.ParseError:
            continue
        kind = err.findtext("kind") or ""
        if kind not in kinds:
            continue
        what = err.findtext("what") or kinds[kind]
        tid = err.findtext("threadname") or err.findtext("tid") or "?"
        children = list(err)
        stacks: list[ET.Element] = [c for c in children if c.tag == "stack"]
        aux = [c.text or "" for c in children if c.tag == "auxwhat"]
        # the stack after an auxwhat belongs to it: "... free'd" then "Block was alloc'd at"
        freed = alloc = None
        order = [c for c in children if c.tag in ("stack", "auxwhat")]
        pending = None
        for c in order:
            if c.tag == "auxwhat":
                pending = c.text or ""
            elif pending is not None:
                if "free'd" in pending or "freed" in pending:
                    freed = c
                elif "alloc'd" in pending:
                    alloc = c
                pending = None
        inside = next((m for m in (_INSIDE.search(a) for a in aux) if m), None)
        size = _SIZE.search(what)
        address = next((int(m.group(1), 16) for m in (_ADDRESS.match(a) for a in aux) if m), None)
        reports.append(
            MemoryErrorReport(
                kind=kinds[kind],
                block=_block(aux),
                access=_access(stacks[0] if stacks else None, tid),
                size=_number(size.group(1)) if size else None,
                offset=_number(inside.group(1)) if inside else None,
                block_size=_number(inside.group(2)) if inside else None,
                address=address,
                freed_by=_access(freed, "?") if freed is not None else None,
                allocated_by=_access(alloc, "?") if alloc is not None else None,
            )
        )
    return tuple(reports)


def _block(aux: list[str]) -> str:
    """What valgrind says was at the address: a heap block, or (low addresses) a NULL pointer."""
    m = next((_ADDRESS.match(a) for a in aux if a.startswith("Address")), None)
    if m is None:
        return "heap block"
    if int(m.group(1), 16) < NULL_PAGE_SIZE:
        return f"NULL+{int(m.group(1), 16):#x}"
    return f"heap block at {m.group(1)}" if "block" in " ".join(aux) else f"address {m.group(1)}"


# obmalloc's address_in_range reads outside its arenas on purpose; an embedded 3.6
# ignores PYTHONMALLOC=malloc, so these would drown the real errors.
PYMALLOC_SUPPRESSIONS = "".join(
    f"{{\n   pymalloc-address-in-range-{kind}\n   Memcheck:{kind}\n   fun:address_in_range\n}}\n"
    for kind in ("Addr4", "Addr8", "Value4", "Value8", "Cond")
)


def shipped_suppressions() -> str:
    """The suppression files finirace ships (``detectors/data/*.supp``: glibc's loader at import), joined."""
    data = resources.files("finirace.detectors") / "data"
    return "".join(f.read_text() for f in sorted(data.iterdir(), key=lambda f: f.name) if f.name.endswith(".supp"))


class ValgrindDetector(Detector):
    """memcheck on every run; a memory error is caught even when the run survives it."""

    name = "valgrind"
    slowdown = 40.0

    def __init__(self, extra_args: Sequence[str] = ()) -> None:
        self.extra_args = tuple(extra_args)

    def on_timeout(self, pid: int) -> str | None:
        """Nothing: gdb cannot attach to a program valgrind runs (and would see valgrind's stacks)."""
        return None

    def environment(self) -> dict[str, str]:
        return {"PYTHONMALLOC": "malloc"}

    def available(self) -> str | None:
        return None if shutil.which("valgrind") else "valgrind is not installed (apt-get install valgrind)"

    def prepare(self, argv: Sequence[str], env: Mapping[str, str] | None, workdir: str | os.PathLike[str]) -> Prepared:
        base = super().prepare(argv, env, workdir)
        fd, xml = tempfile.mkstemp(prefix="valgrind-", suffix=".xml", dir=workdir)
        os.close(fd)
        supp = Path(workdir) / "finirace.supp"
        supp.write_text(PYMALLOC_SUPPRESSIONS + shipped_suppressions())
        wrapped = (
            "valgrind",
            "--tool=memcheck",
            "--xml=yes",
            f"--xml-file={xml}",
            "--num-callers=30",
            "--undef-value-errors=no",  # addressability only: every kind in MEMORY_KINDS (see the docstring)
            "--child-silent-after-fork=yes",
            f"--suppressions={supp}",
            *self.extra_args,
            *base.argv,
        )
        return Prepared(wrapped, base.env, Path(xml))

    def interpret(self, prepared: Prepared, result: ProcResult) -> Detection:
        errors: tuple[MemoryErrorReport, ...] = ()
        raw = ""
        if prepared.report_file is not None:
            try:
                data = prepared.report_file.read_bytes()
            except OSError:
                data = b""
            errors = parse_valgrind_xml(data)
            raw = "\n".join("\n".join(e.lines()) for e in errors)
            try:
                prepared.report_file.unlink()
            except OSError:
                pass
        return Detection(classify(result, errors), python_tracebacks=python_tracebacks(result.stderr), raw_report=raw)
