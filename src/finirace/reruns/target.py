"""Which test a rerun runs, the command that runs it, and what its exit means.

A rerun names its test by the test file's absolute path and the names below
the module (``/abs/tests/test_x.py::TestA::test_b[1]``), with the session's
rootdir and ini file passed explicitly: the session's node ID alone is
relative to the rootdir, and under ``--pyargs`` a test installed outside the
rootdir has a node ID with no path at all (``::TestObjects::test_equality``),
which a fresh pytest cannot find.  The same command works pasted into
another shell from any directory.

A rerun that ran no test tested nothing: pytest's exit statuses 3 (internal
error), 4 (usage error) and 5 (no test collected), or a zero exit whose
summary shows no test passed (the test was skipped or deselected when run
alone), are a ``failed`` outcome of their own ("ran no test"), never a clean
run.  A rerun that exits 1 or 2 (the test, or its module's collection,
failed the ordinary way) is ``failed`` with its exit status.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, replace

from finirace.detectors.base import Detection
from finirace.outcome import RunKind, RunOutcome
from finirace.proc import ProcResult

NO_TEST = "ran no test"
_RAN = re.compile(r"\b\d+ (passed|failed|xpassed|xfailed|errors?)\b")
_PYTEST_NO_TEST = (3, 4, 5)  # internal error, usage error, no test collected


@dataclass(frozen=True)
class RerunTarget:
    """One test as its reruns run it."""

    nodeid: str  # as the session shows it
    path: str  # the test file, absolute
    names: tuple[str, ...]  # below the module: class, function (with its parameter id)
    rootdir: str
    inifile: str | None = None
    python: str = sys.executable

    @property
    def arg(self) -> str:
        """The test as a rerun's pytest argument: absolute path, then the names."""
        return "::".join((self.path, *self.names))

    def pytest_args(self) -> tuple[str, ...]:
        """pytest's arguments for a rerun of this test alone, without the test itself."""
        ini = ("-c", self.inifile) if self.inifile else ()
        return ("-q", "-p", "no:cacheprovider", "--rootdir", self.rootdir, *ini)

    def argv(self) -> tuple[str, ...]:
        """A fresh interpreter running this test alone."""
        return (self.python, "-m", "pytest", *self.pytest_args(), self.arg)

    def command(self) -> str:
        """The rerun as one line to paste (no finirace, no perturbation)."""
        return shlex.join(self.argv())


def names_of(item) -> tuple[str, ...]:
    """The names below the test's module (class, function with its parameter id).

    Taken from the node chain itself: the node ID's file part may be empty
    or relative to somewhere else (``--pyargs``).
    """
    chain = item.listchain()
    at = next((i for i, n in enumerate(chain) if getattr(n, "path", None) == item.path), len(chain) - 1)
    return tuple(n.name for n in chain[at + 1:]) or (item.name,)


def target_of(item) -> RerunTarget:
    """The rerun target of a collected pytest item."""
    config = item.config
    path = str(item.path.resolve())
    names = names_of(item)
    inifile = str(config.inipath) if getattr(config, "inipath", None) else None
    return RerunTarget(item.nodeid, path, names, str(config.rootpath), inifile)


def ran_no_test(result: ProcResult) -> bool:
    """Whether a pytest run that ended by itself ran no test at all."""
    if not result.started or result.timed_out or result.signal:
        return False
    if result.exit_code in _PYTEST_NO_TEST:
        return True
    return result.exit_code == 0 and not _RAN.search(result.stdout)


def judge(result: ProcResult, detection: Detection) -> Detection:
    """The detector's word, corrected: a rerun that ran no test is ``failed``, never clean."""
    if detection.outcome.kind in (RunKind.CLEAN, RunKind.FAILED) and ran_no_test(result):
        why = f"{NO_TEST} (exit status {result.exit_code})"
        return replace(detection, outcome=RunOutcome(RunKind.FAILED, reason=why, exit_code=result.exit_code))
    return detection
