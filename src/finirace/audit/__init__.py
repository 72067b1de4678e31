"""``finirace audit``: which threads are alive when finalization starts, and what each era does to them.

The target runs once with a ``sitecustomize`` on ``PYTHONPATH`` that wraps
``threading._shutdown`` (the first thing ``Py_FinalizeEx`` does), so the
snapshot is taken at the start of finalization, with the GIL held: every
other thread is either blocked wanting the GIL or in C with it released.
gdb (``-nx -batch``, attached from inside the target at that moment, its
output written to a file and waited for without releasing the GIL) adds each
thread's native stack, matched by native thread id; its frames are named
again from the libraries' symbol tables through the memory map the hook
recorded (:mod:`finirace.detectors.symbols`).  The hook also looks for
library locks the threads hold (:mod:`finirace.audit.assess`).

The stress shim is preloaded for its crash backtrace, and faulthandler is
on, so a run that dies after the snapshot is tied to the thread that killed
it (:mod:`finirace.audit.ending`).  A run that never got to finalization
says why: the hook never loaded (not a Python 3 program, or ``-I``/``-E``/``-S``),
it hung (every thread's stack from gdb), or it ended first.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

from finirace import proc
from finirace.audit.assess import HeldLock, ThreadAudit, assess, eras
from finirace.audit.ending import Ending, ending
from finirace.detectors import symbols
from finirace.detectors.backtrace import NativeThread, attach_backtraces, parse_backtraces


@dataclass(frozen=True)
class AuditReport:
    version: tuple[int, ...]
    threads: tuple[ThreadAudit, ...]
    exit: proc.ProcResult
    recorded: bool
    started: bool = True  # the hook loaded: a Python 3 interpreter ran it
    ending: Ending | None = None  # a crash or abort, with the thread that caused it when known
    culprit: ThreadAudit | None = None  # that thread, when it was alive at the snapshot
    hang: tuple[NativeThread, ...] = ()  # every thread's stack when the run timed out
    main_ids: tuple[int | None, int | None] = (None, None)  # the main thread's (native id, ident)

    @property
    def ended_in_main(self) -> bool:
        """The crash came from the main thread (the one finalizing)."""
        e = self.ending
        return e is not None and ((e.native_id is not None and e.native_id == self.main_ids[0])
                                  or (e.ident is not None and e.ident == self.main_ids[1]))

    @property
    def failed(self) -> bool:
        """The run did not exit 0 in time: what it ended with is part of the audit."""
        return not self.exit.ok


def _native_for(threads: Sequence[NativeThread], native_id: int | None, ident: int | None = None) -> NativeThread | None:
    """gdb's stack of a thread, by native id (3.8+), else by its pthread_t, which is Python's ident (3.6, 3.7)."""
    return next((t for t in threads if (native_id is not None and t.lwp == native_id)
                 or (native_id is None and ident is not None and t.pthread == ident)), None)


def _locks(data: dict, maps: Sequence[symbols.Mapping]) -> dict[int, list[HeldLock]]:
    """The held library locks the hook found, by owner, each named for the global holding it."""
    out: dict[int, list[HeldLock]] = {}
    for address, owner, path in data.get("locks", []):
        where = symbols.locate(maps, address)
        lib = symbols.library(path)
        raw = lib.data_at(lib.base_vaddr + where[1]) if where is not None and lib is not None else ""
        name = symbols.demangle([raw])[0] if raw else ""
        base = os.path.basename(path)
        label = f"`{name}`" if name else f"the mutex at {base}+{hex(where[1]) if where else '?'}"
        out.setdefault(owner, []).append(HeldLock(owner, base, label))
    return out


def _environment(out: Path, gdb: bool) -> dict[str, str]:
    here = str(resources.files("finirace.audit") / "data")
    env = dict(os.environ)
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["FINIRACE_AUDIT_FILE"] = str(out)
    env["FINIRACE_AUDIT_GDB"] = "1" if gdb else "0"
    env.setdefault("PYTHONFAULTHANDLER", "1")
    try:
        from finirace.stress.perturb import ShimError, build_shim, join_path

        env["LD_PRELOAD"] = join_path(str(build_shim()), env.get("LD_PRELOAD"))
        env["FINIRACE_CRASH_BACKTRACE"] = "1"
    except (ShimError, OSError):
        pass  # no gcc: crashes are still reported, without the faulting thread's native stack
    return env


def threads_of(data: dict) -> tuple[ThreadAudit, ...]:
    """Every thread the hook recorded, assessed: native stacks named, held locks found, dangers flagged."""
    maps = symbols.parse_maps(data.get("maps", ""))
    natives = parse_backtraces(data.get("native", ""))
    held = _locks(data, maps)
    threads = []
    for t in data["threads"]:
        native = _native_for(natives, t.get("native_id"), t.get("ident"))
        if native is not None and not t.get("native_id"):  # 3.6, 3.7: gdb knows it, to tie a crash to it
            t = {**t, "native_id": native.lwp}
        frames = symbols.resolve(native.frames, maps) if native is not None else None
        threads.append(assess(t, frames, held.get(t.get("native_id") or -1, ())))
    return tuple(threads)


def snapshot(gdb: bool = True) -> dict:
    """This process's threads now, recorded by the very hook a program runs at the start of its finalization.

    For a process that cannot be audited from outside because it is the one
    asking: the pytest plugin, at the end of a session.  The hook's module is
    loaded under a private name (it installs nothing then), and its recorder
    writes where it always does, a file, read back here.
    """
    import importlib.util
    import threading

    spec = importlib.util.spec_from_file_location(
        "finirace_audit_hook", str(resources.files("finirace.audit") / "data" / "sitecustomize.py"))
    hook = importlib.util.module_from_spec(spec)
    saved = {k: os.environ.get(k) for k in ("FINIRACE_AUDIT_FILE", "FINIRACE_AUDIT_GDB")}
    with tempfile.TemporaryDirectory(prefix="finirace-audit-") as work:
        try:
            os.environ.pop("FINIRACE_AUDIT_FILE", None)  # loading it must not install it
            spec.loader.exec_module(hook)
            os.environ["FINIRACE_AUDIT_FILE"] = str(Path(work) / "audit.json")
            os.environ["FINIRACE_AUDIT_GDB"] = "1" if gdb else "0"
            hook._finirace_audit_record(threading)
            return json.loads((Path(work) / "audit.json").read_text())
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def audit(argv: Sequence[str], timeout: float = 120.0, gdb: bool = True) -> AuditReport:
    """Run a Python program once and report the threads alive when its finalization starts."""
    with tempfile.TemporaryDirectory(prefix="finirace-audit-") as work:
        out = Path(work) / "audit.json"
        result = proc.run(list(argv), env=_environment(out, gdb), timeout=timeout,
                          on_timeout=attach_backtraces if gdb else None)
        started = Path(str(out) + ".started").exists()
        try:
            data = json.loads(out.read_text())
        except (OSError, ValueError):
            data = None
    end = ending(result)
    hang = parse_backtraces(result.timeout_note or "") if result.timed_out else ()
    if data is None:
        return AuditReport((), (), result, False, started, end, None, hang)
    threads = threads_of(data)
    culprit = None
    if end is not None:
        culprit = next((t for t in threads if (end.native_id and t.native_id == end.native_id)
                        or (end.ident and t.ident == end.ident)), None)
    return AuditReport(tuple(data["version"]), tuple(threads), result, True, started, end, culprit, hang,
                       (data.get("main_native_id"), data.get("main_ident")))


def not_recorded(report, argv: list[str]) -> str:
    """One line: why no finalization was recorded, in what the run did."""
    how = report.exit.describe()
    if report.exit.timed_out:
        return (f"the program did not end within its time limit ({how}) and was killed: its finalization never "
                "started" + (", every thread's stack below" if report.hang else ""))
    if not report.started:
        return (f"{os.path.basename(argv[0])} {how} without loading finirace's hook: no Python 3 interpreter "
                "ran in it (or it ran with -I, -E or -S, which skip the hook); nothing was audited")
    return f"the program {how} before its finalization started (os._exit, a signal, or exec): nothing was audited"


__all__ = ["AuditReport", "Ending", "HeldLock", "ThreadAudit", "assess", "audit", "eras", "not_recorded", "snapshot",
           "threads_of"]
