"""finirace's pytest plugin: ``--finirace-runs N`` and ``--finirace-audit``.

Without them it registers its options and does nothing else, so the
project's own suite (which loads it through the entry point) pays nothing.

``--finirace-runs N``: each selected test that passes is, right after its
own run, run N more times, each time alone in a fresh ``pytest`` subprocess
(through the stress runner, so perturbation, signatures and the store are the
same as ``finirace stress``; ``--finirace-timeout`` bounds one rerun); a test
whose reruns crash or hang at exit gets its own report turned into a failure,
whose text is the bucketed signatures and their reproduction commands, so it
counts, and shows, like any other failed test.  ``--finirace-audit`` lists
the threads still alive at session end with what each CPython era does to them.
``--finirace-guard [stop|park]`` installs the exit guard (``finirace.guard``)
in the pytest process, so daemon threads the tests left behind are stopped
(or parked) before finalization.
"""

from __future__ import annotations

import sys
import threading

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("finirace", "finirace: crashes and hangs at interpreter exit")
    group.addoption("--finirace-runs", type=int, default=0, metavar="N",
                    help="rerun each selected test N times in subprocesses; fail those that crash or hang at exit")
    group.addoption("--finirace-timeout", type=float, default=120.0, metavar="SECONDS",
                    help="time limit of one rerun; a rerun still running then counts as a hang (default 120)")
    group.addoption("--finirace-audit", action="store_true", default=False,
                    help="report threads alive at session end, with what each CPython era does to them")
    group.addoption("--finirace-guard", nargs="?", const="stop", default=None, choices=("stop", "park"),
                    help="install the exit guard for this session: daemon threads stopped (or parked) before finalization")


def pytest_configure(config):
    runs = config.getoption("finirace_runs")
    if runs < 0:
        raise pytest.UsageError(f"--finirace-runs must be at least 0, got {runs}")
    if config.getoption("finirace_timeout") <= 0:
        raise pytest.UsageError(f"--finirace-timeout must be positive, got {config.getoption('finirace_timeout')}")
    if config.getoption("finirace_guard"):
        from finirace.guard import install

        install(mode=config.getoption("finirace_guard"))
    if runs or config.getoption("finirace_audit"):
        config.pluginmanager.register(_Finirace(config, runs), "finirace-active")


class _Finirace:
    def __init__(self, config, runs: int) -> None:
        self.config = config
        self.runs = runs
        self.failures: dict[str, list[tuple[str, int, str]]] = {}  # nodeid -> (signature, count, repro)

    def _rerun(self, item) -> list[tuple[str, int, str]]:
        """Run the test ``self.runs`` times in fresh subprocesses; the buckets of those that failed."""
        import uuid

        from finirace.store import Store
        from finirace.stress.runner import CampaignSettings, open_campaign, run_campaign

        argv = (sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", item.nodeid)
        timeout = item.config.getoption("finirace_timeout")
        settings = CampaignSettings(argv=argv, runs=self.runs, timeout=timeout, cwd=str(item.config.rootpath))
        with Store() as store:
            # one campaign per round, so an earlier round's runs are never counted again
            name = f"pytest:{item.nodeid}@{uuid.uuid4().hex[:8]}"
            campaign, settings = open_campaign(store, name, settings)
            run_campaign(store, campaign, settings)
            return [(b.signature, b.count, b.repro) for b in store.buckets(campaign.id)]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        # only a test that passed in this session is rerun: one that failed already says so
        if call.when != "call" or not report.passed or not self.runs:
            return
        bad = self._rerun(item)
        if not bad:
            return
        self.failures[item.nodeid] = bad
        lines = [f"finirace: {sum(n for _, n, _ in bad)} of {self.runs} reruns of this test crashed or hung at exit"]
        for signature, n, repro in bad:
            lines.append(f"  {signature}  ({n}/{self.runs} runs)")
            lines.append(f"    reproduce: {repro}")
        report.outcome = "failed"
        report.longrepr = "\n".join(lines)

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        tr = terminalreporter
        if self.runs:
            tr.section("finirace: crashes and hangs at exit")
            if not self.failures:
                tr.line(f"no crash or hang at exit in {self.runs} runs of each test")
            for nodeid, buckets in self.failures.items():
                for sig, n, _ in buckets:
                    tr.line(f"FAILED {nodeid}: {sig} (reproduced {n}/{self.runs} times)", red=True)
        if config.getoption("finirace_audit"):
            tr.section("finirace: threads alive at session end")
            alive = [t for t in threading.enumerate() if t is not threading.main_thread()]
            if not alive:
                tr.line("none")
            from finirace.audit import eras

            for t in alive:
                tr.line(f"{t.name} ({'daemon' if t.daemon else 'non-daemon'})")
                for v in eras():
                    tr.line(f"  {v.name:8} {v.versions:9} {v.fate.text(False) if t.daemon else 'joined before finalization'}")

    def pytest_sessionfinish(self, session, exitstatus):
        if self.failures:
            session.exitstatus = 1
