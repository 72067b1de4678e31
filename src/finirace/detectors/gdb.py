"""gdb as a detector: run the program under gdb, and on a signal take every thread's backtrace.

The target must be an executable file (gdb cannot run a ``#!`` script; give
the interpreter and the script instead).  Always ``gdb -nx -batch``: no ``.gdbinit`` of the user changes the output we
parse, and gdb never stops to ask.  The faulting thread's stack is printed
first (``bt`` runs in the thread that took the signal), then every thread's,
between markers so the two are told apart.  Then, while the stopped process
still exists, gdb writes its memory mappings (``info proc mappings``) to a
file of the run's work directory, not to its output (which holds the
program's own): with them every frame gdb printed is named from the
libraries' symbol tables by the same code as the stress shim's crash
backtraces (:func:`finirace.detectors.symbols.resolve`), so a crash has one
signature under either.  In batch mode gdb kills the
inferior when the commands are done, so a stopped program never lingers.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path
from typing import Mapping, Sequence

from finirace.detectors.backtrace import parse_backtraces, parse_frames, NativeThread
from finirace.detectors.base import Detection, Detector, Prepared
from finirace.detectors.classify import classify, python_tracebacks
from finirace.detectors.symbols import Mapping as MemoryMap
from finirace.proc import ProcResult, signal_name

_FAULT_MARK = "==finirace-faulting=="
_ALL_MARK = "==finirace-all-threads=="
_RECEIVED = re.compile(r"^(?:Thread \d+ \"[^\"]*\" received|Program received|Thread \d+ received) signal (SIG\w+)", re.M)
_EXITED = re.compile(r"^\[Inferior \d+ \(process \d+\) exited (?:normally|with code (\d+))\]", re.M)
_TERMINATED = re.compile(r"^Program terminated with signal (SIG\w+)", re.M)


_MAPS_FILE = "gdb-maps.txt"
_MAPPING = re.compile(r"^\s*(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)(?:\s+([r-][w-][x-][ps]))?(?:\s+(.*?))?\s*$")


def parse_mappings(text: str) -> tuple[MemoryMap, ...]:
    """gdb's ``info proc mappings`` (start, end, size, offset, [perms,] file) as mappings."""
    out = []
    for line in text.splitlines():
        m = _MAPPING.match(line)
        if m:
            start, end, offset, perms, path = m.groups()
            out.append(MemoryMap(int(start, 16), int(end, 16), int(offset, 16), path or "", perms or ""))
    return tuple(out)


INTERRUPT_SECONDS = 20.0  # gdb's time to print the stacks of an interrupted, timed-out run


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (gdb's inferior), from /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return []


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie until its parent waits, or gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def _read_maps(path: Path | None) -> tuple[MemoryMap, ...]:
    """The mappings gdb wrote for a stopped process, or () when it stopped none (the program exited)."""
    try:
        return parse_mappings(path.read_text(errors="replace")) if path is not None else ()
    except OSError:
        return ()


class GdbDetector(Detector):
    """Runs the target under gdb; a crash comes back with native stacks of every thread."""

    name = "gdb"
    slowdown = 3.0

    def available(self) -> str | None:
        return None if shutil.which("gdb") else "gdb is not installed (apt-get install gdb)"

    def prepare(self, argv: Sequence[str], env: Mapping[str, str] | None, workdir: str | os.PathLike[str]) -> Prepared:
        base = super().prepare(argv, env, workdir)
        maps = Path(workdir) / _MAPS_FILE
        wrapped = (
            "gdb", "-nx", "-batch",
            "-ex", "set pagination off",
            "-ex", "set confirm off",
            "-ex", "handle SIGPIPE nostop noprint pass",
            "-ex", "run",
            "-ex", f"echo \\n{_FAULT_MARK}\\n",
            "-ex", "bt",
            "-ex", f"echo \\n{_ALL_MARK}\\n",
            "-ex", "thread apply all bt",
            "-ex", f"set logging file {maps}",
            "-ex", "set logging overwrite on",
            "-ex", "set logging redirect on",
            "-ex", "set logging enabled on",
            "-ex", "info proc mappings",
            "-ex", "set logging enabled off",
            "--args", *base.argv,
        )
        # gdb starts the inferior through $SHELL (it quotes the arguments; with
        # the shell off it mangles arguments holding spaces): make it /bin/sh
        return Prepared(wrapped, {**base.env, "SHELL": "/bin/sh"}, report_file=maps)

    def traced(self, pid: int) -> list[int]:
        """gdb's inferior, not gdb: its stacks are what gdb prints."""
        return _children(pid)

    def on_timeout(self, pid: int) -> str | None:
        """Interrupt the program gdb runs, so gdb prints every thread's stack before the kill.

        A second gdb cannot attach (the program is already traced), but gdb
        stops on the SIGINT, runs the ``bt`` commands it was given and exits;
        its output, backtraces included, then reaches :meth:`interpret`.
        """
        children = _children(pid)
        if not children:
            return None
        for child in children:
            try:
                os.kill(child, signal.SIGINT)
            except OSError:
                pass
        deadline = time.monotonic() + INTERRUPT_SECONDS
        while time.monotonic() < deadline and not _exited(pid):
            time.sleep(0.05)
        return None

    def interpret(self, prepared: Prepared, result: ProcResult) -> Detection:
        out = result.stdout
        sig = None
        m = _RECEIVED.search(out) or _TERMINATED.search(out)
        if m:
            sig = m.group(1)
        code = None
        e = _EXITED.search(out)
        if e:
            code = int(e.group(1), 8) if e.group(1) else 0  # gdb prints the code in octal
        faulting = None
        threads: tuple[NativeThread, ...] = ()
        if sig and _FAULT_MARK in out:
            fault_text = out.split(_FAULT_MARK, 1)[1].split(_ALL_MARK, 1)[0]
            frames = parse_frames(fault_text.splitlines())
            threads = parse_backtraces(out.split(_ALL_MARK, 1)[1]) if _ALL_MARK in out else ()
            faulting = NativeThread(0, None, "faulting", frames)
            # name the faulting thread after the matching full stack, if any
            for t in threads:
                if t.frames and frames and t.frames[0].address == frames[0].address and t.functions() == faulting.functions():
                    faulting = t
                    break
        # what the target did, as if it had run alone
        inferior = ProcResult(
            argv=prepared.argv,
            exit_code=code if sig is None else None,
            signal=sig,
            timed_out=result.timed_out,
            duration=result.duration,
            stdout=out,
            stderr=result.stderr,
            stdout_bytes=result.stdout_bytes,
            stderr_bytes=result.stderr_bytes,
            leftovers_killed=result.leftovers_killed,
            launch_error=result.launch_error,
            pid=result.pid,
            token=result.token,
        )
        top = faulting.frames[0].function if faulting and faulting.frames else ""
        return Detection(
            classify(inferior, faulting_function=top),
            native=threads,
            faulting=faulting,
            python_tracebacks=python_tracebacks(result.stderr),
            raw_report=out[-64 * 1024 :],
            maps=_read_maps(prepared.report_file),
        )


__all__ = ["GdbDetector", "parse_mappings", "signal_name"]
