"""Which way each rerun is made: forked from its test file's warm process, or in a fresh interpreter.

The session keeps one warm process (:class:`~finirace.reruns.forked.Warm`)
for the test file whose tests it reruns, and starts the next when the file
changes, so a warm process has imported what a fresh rerun of that test would
import, and not more; the next file's warm process collects while this
file's reruns run.  A fresh process
(:func:`~finirace.stress.execute.execute_run`) is used instead when the warm
process refuses (threads after collection, a collection error, no ``fork``),
when it dies, and under a detector other than plain (gdb, valgrind wrap the
interpreter from its start).  How many reruns went which way, and why, is
kept for the session's summary.

:meth:`Launcher.launch` is called from several threads at once (a round's
reruns side by side): choosing and replacing the warm process happens under
one lock, the reruns themselves outside it.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from dataclasses import dataclass, field

from finirace import detectors
from finirace.detectors.base import Prepared
from finirace.proc.containment import become_subreaper
from finirace.records import StressRunRecord
from finirace.reruns.forked import Warm
from finirace.reruns.target import RerunTarget, judge
from finirace.stress.execute import RunSpec, execute_run, finish_run


@dataclass
class Launcher:
    """Makes each rerun: forked from the warm process of its test file, or fresh."""

    fork: bool = True
    forked: int = 0
    fresh: int = 0
    why_fresh: dict[str, str] = field(default_factory=dict)  # test file -> why its reruns were fresh
    files: list[str] = field(default_factory=list)  # the session's test files, in the order it runs them
    _warm: Warm | None = None
    _next: Warm | None = None  # the next file's, collecting while this file's reruns run
    _preload: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def for_target(self, target: RerunTarget):
        """The launch function of one test's round."""
        return lambda spec: self.launch(target, spec)

    def prepare(self, target: RerunTarget, spec: RunSpec) -> None:
        """Have ``target``'s warm process started and collected, in the thread that will outlive the round.

        Called in the session's main thread before a round's reruns start in
        a pool: a warm process dies with the thread that started it
        (``PR_SET_PDEATHSIG`` follows the thread, not the process), so no pool
        thread ever starts one.
        """
        with self._lock:
            self._warm_for(target, spec, start=True)

    def launch(self, target: RerunTarget, spec: RunSpec) -> StressRunRecord:
        with self._lock:
            warm = self._warm_for(target, spec, start=threading.current_thread() is threading.main_thread())
        result = warm.run(target, spec) if warm is not None else None
        with self._lock:
            if result is None:
                self.fresh += 1
            else:
                self.forked += 1
            if warm is not None and (result is None or warm.why):
                self.why_fresh.setdefault(target.path, warm.why or "the warm process is gone")
        if result is None:
            return execute_run(spec, judge=judge)
        det = detectors.get(spec.detector)
        detection = judge(result, det.interpret(Prepared(spec.argv, {}), result))
        return finish_run(spec, result, detection)

    def _can_fork(self, target: RerunTarget, spec: RunSpec) -> bool:
        if not self.fork or target.path in self.why_fresh:
            return False
        why = ""
        if spec.detector != "plain":
            why = f"the {spec.detector} detector wraps the interpreter from its start"
        elif not hasattr(os, "fork") or not hasattr(socket, "send_fds") or not sys.platform.startswith("linux"):
            why = "this platform cannot fork a warm process"
        if why:
            self.why_fresh[target.path] = why
        return not why

    def _warm_for(self, target: RerunTarget, spec: RunSpec, start: bool) -> Warm | None:
        """The warm process ``target``'s rerun forks from (started and collected if need be), or None: fresh.

        Called under the lock.  Only with ``start`` (the main thread) is a
        warm process started; without, a rerun whose file has none is fresh.  A warm process of another file, or one that
        refused or died, is closed here: rounds run one after another, so no
        rerun of it is still running then, except beside one that saw it die.
        """
        if not self._can_fork(target, spec):
            if self._warm is not None and self._warm.path == target.path:
                self._retire()
            return None
        become_subreaper()  # what a rerun leaves behind comes to us, to be killed and reaped
        if self._warm is not None and (self._warm.path != target.path or not self._warm.alive()):
            self._retire()
        if self._warm is None and not start:
            return None
        if self._warm is None:
            if self._next is not None and self._next.path == target.path:
                warm, self._next = self._next, None
            else:
                warm = Warm(target, spec, self._preload)
            self._prefetch(target, spec)
            if not warm.ready():
                self.why_fresh[target.path] = warm.why
                return None
            self._warm = warm
        return self._warm

    def _retire(self) -> None:
        if self._warm is not None:
            self._warm.close()
            self._warm = None

    def _prefetch(self, target: RerunTarget, spec: RunSpec) -> None:
        """Start the warm process of the file after ``target``'s, so its start-up overlaps these reruns."""
        if self._next is not None:
            self._next.close()
            self._next = None
        later = self.files[self.files.index(target.path) + 1:] if target.path in self.files else []
        if later and later[0] not in self.why_fresh:
            following = RerunTarget("", later[0], (), target.rootdir, target.inifile, target.python)
            self._next = Warm(following, spec, self._preload)

    def close(self) -> None:
        with self._lock:
            for warm in (self._warm, self._next):
                if warm is not None:
                    warm.close()
            self._warm = self._next = None
