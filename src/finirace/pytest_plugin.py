"""finirace's pytest plugin: ``--finirace-runs N`` and ``--finirace-audit``.

Without them it registers its options and does nothing else, so the
project's own suite (which loads it through the entry point) pays nothing.

``--finirace-runs N``: each selected test that passes is, right after its
own run, run N more times, each alone in a real interpreter forked from a warm
one (:mod:`finirace.reruns`: the stress runner's perturbation, signatures and
store; ``--finirace-timeout`` bounds one rerun); a test whose reruns crash or
hang at exit, fail the ordinary way (flaky, order-dependent) or run no test
gets its own report turned into a failure that says which, so it counts, and
shows, like any other failed test.  ``--finirace-audit`` shows the threads
still alive at session end as ``finirace audit`` does.
``--finirace-guard`` (``--finirace-guard=park``) installs the exit guard (``finirace.guard``)
in the pytest process, so daemon threads the tests left behind are stopped
(or parked) before finalization.
"""

from __future__ import annotations

import os
import threading

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("finirace", "finirace: crashes and hangs at interpreter exit")
    group.addoption("--finirace-runs", type=int, default=0, metavar="N",
                    help="rerun each selected test N times in subprocesses; fail those that crash or hang at exit")
    group.addoption("--finirace-timeout", type=float, default=120.0, metavar="SECONDS",
                    help="time limit of one rerun; a rerun still running then counts as a hang (default 120)")
    group.addoption("--finirace-jobs", type=int, default=None, metavar="J",
                    help="reruns of a test run at once (default: two per core; reruns mostly wait, as tests do)")
    group.addoption("--finirace-fresh", action="store_true", default=False,
                    help="start each rerun in a fresh interpreter instead of forking it from a warm one (slower)")
    group.addoption("--finirace-seed", type=int, default=None, metavar="SEED",
                    help="seed of the reruns' perturbations (default: a fresh one each session, printed)")
    group.addoption("--finirace-audit", action="store_true", default=False,
                    help="report threads alive at session end, with what each CPython era does to them")
    # a flag, not an option with an optional value: `pytest --finirace-guard tests/` must not read tests/
    # as the mode; the mode is spelt whole (argparse matches a whole "--x=v" option string first)
    group.addoption("--finirace-guard", action="store_const", const="stop", default=None, dest="finirace_guard",
                    help="install the exit guard for this session: daemon threads stopped before finalization")
    group.addoption("--finirace-guard=stop", action="store_const", const="stop", dest="finirace_guard",
                    help="the same, spelt with its mode")
    group.addoption("--finirace-guard=park", action="store_const", const="park", dest="finirace_guard",
                    help="install the exit guard, daemon threads parked (never resumed) rather than stopped")


def pytest_configure(config):
    runs = config.getoption("finirace_runs")
    if runs < 0:
        raise pytest.UsageError(f"--finirace-runs must be at least 0, got {runs}")
    if config.getoption("finirace_timeout") <= 0:
        raise pytest.UsageError(f"--finirace-timeout must be positive, got {config.getoption('finirace_timeout')}")
    if config.getoption("finirace_guard"):
        from finirace.guard import install

        install(mode=config.getoption("finirace_guard"))
    jobs = config.getoption("finirace_jobs")
    if jobs is not None and jobs < 1:
        raise pytest.UsageError(f"--finirace-jobs must be at least 1, got {jobs}")
    seed = config.getoption("finirace_seed")
    if seed is not None and seed < 0:
        raise pytest.UsageError(f"--finirace-seed must be at least 0, got {seed}")
    if seed is None:  # a fresh seed each session, so CI sessions do not all retry the same perturbations
        import secrets

        seed = secrets.randbelow(2**32)
    if runs or config.getoption("finirace_audit"):
        config.pluginmanager.register(_Finirace(config, runs, seed), "finirace-active")


class _Finirace:
    def __init__(self, config, runs: int, seed: int) -> None:
        self.config = config
        self.runs = runs
        self.seed = seed
        # two per core: a rerun spends much of its time waiting (its test's sleeps and I/O, its exit),
        # so one per core leaves cores idle (watchdog's suite: 5.3x plain with 2 at once, 3.7-4.0x with 3)
        self.jobs = config.getoption("finirace_jobs") or 2 * (os.cpu_count() or 1)
        self.store = None  # finirace.store.Store, opened at the first rerun, closed at session end
        self.rounds: list = []  # finirace.reruns.rounds.Round of every test rerun
        self.bad: dict[str, object] = {}  # nodeid -> Round, for tests whose reruns were not clean
        self.positions: dict[str, int] = {}  # nodeid -> its place in the session (1-based)
        self.launch = None
        self.files: list[str] = []  # test files in the order the session runs them (warm processes follow it)

    def pytest_report_header(self, config):
        if self.runs:
            return [f"finirace: {self.runs} reruns of each passing test, seed {self.seed} "
                    f"(--finirace-seed {self.seed} replays them)"]
        return None

    def pytest_collection_finish(self, session):
        self.positions = {item.nodeid: i for i, item in enumerate(session.items, 1)}
        self.files = list(dict.fromkeys(str(item.path.resolve()) for item in session.items))

    def _launcher(self):
        if self.launch is None:
            from finirace.reruns.launcher import Launcher

            self.launch = Launcher(fork=not self.config.getoption("finirace_fresh"), files=self.files)
        return self.launch

    def _rerun(self, item):
        """Run the test ``self.runs`` times, each alone in a real interpreter; the round."""
        from finirace.reruns.report import mark
        from finirace.reruns.rounds import round_seed, run_round
        from finirace.reruns.target import target_of
        from finirace.store import Store

        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        verbose = self.config.get_verbosity() > 0
        place = f"{self.positions.get(item.nodeid, 0)}/{len(self.positions)}"
        if tr is not None and verbose:
            tr.write(f"finirace test {place}: ", flush=True)

        def progress(i: int, record) -> None:
            if tr is None:
                return
            letter, word, colour = mark(record)
            if verbose:
                tr.write(f"rerun {i + 1}/{self.runs} ", flush=False)
                tr.write(word, flush=False, **{colour: True})
                tr.write(" ", flush=True)
            else:
                tr.write(letter, flush=True, **{colour: True})

        target = target_of(item)
        timeout = item.config.getoption("finirace_timeout")
        if self.store is None:
            self.store = Store()
        launcher = self._launcher()
        return run_round(self.store, target, self.runs, round_seed(self.seed, item.nodeid), timeout,
                         launcher.for_target(target), on_run=progress, jobs=self.jobs,
                         prepare=lambda spec: launcher.prepare(target, spec))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        # only a test that passed in this session is rerun: one that failed already says so
        if call.when != "call" or not report.passed or not self.runs:
            return
        from finirace.reruns.report import failure_text

        rnd = self._rerun(item)
        self.rounds.append(rnd)
        if rnd.clean:
            return
        self.bad[item.nodeid] = rnd
        report.outcome = "failed"
        report.longrepr = failure_text(rnd)

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        tr = terminalreporter
        if self.runs:
            from finirace.reruns.report import summary_lines

            tr.section("finirace: reruns (crashes and hangs at exit, flaky and order-dependent tests)")
            tr.line(f"seed {self.seed}: --finirace-seed {self.seed} replays these reruns")
            if self.launch is not None:
                tr.line(f"reruns: {self.launch.forked} forked from a warm process, {self.launch.fresh} in a fresh "
                        "interpreter")
                for path, why in self.launch.why_fresh.items():
                    tr.line(f"  fresh for {path}: {why}")
            if not self.rounds:
                tr.line(self._why_no_rerun(config, tr))
            elif not self.bad:
                runs, tests = self.runs, len(self.rounds)
                tr.line(f"no crash or hang at exit, and no failure, in {runs} run{'s' * (runs != 1)} of "
                        f"{'each of ' + str(tests) + ' tests' if tests != 1 else 'the 1 test'}: "
                        "every rerun ran its test and exited 0")
            for rnd in self.bad.values():
                for line, colour in summary_lines(rnd):
                    tr.line(line, **{colour: True})
        if config.getoption("finirace_audit"):
            self._audit(tr)

    @staticmethod
    def _why_no_rerun(config, tr) -> str:
        """Why this process reran nothing, the one cause that holds (a user reads it to act)."""
        if getattr(config.option, "dist", "no") != "no":  # pytest-xdist reruns in its workers
            return ("no test was rerun in this process: under xdist each worker reruns its own tests, and "
                    "their findings are in each test's own report")
        if not tr.stats.get("passed"):
            return "no test was rerun: only a test that passed in the session is rerun, and none passed"
        return "no test was rerun in this process"

    @staticmethod
    def _audit(tr) -> None:
        """The threads alive now, as ``finirace audit`` words them (its own lines), in pytest's summary."""
        import shutil

        from finirace.audit import snapshot, threads_of
        from finirace.guard.advice import PYTEST_FIX
        from finirace.report.audit import thread_lines

        tr.section("finirace: threads alive at session end")
        threads = threads_of(snapshot(gdb=shutil.which("gdb") is not None))
        if not threads:
            tr.line("no thread besides the main one is alive at session end: finalization meets none")
        else:
            tr.line(f"{len(threads)} thread(s) besides the main one alive at session end: finalization meets them "
                    "(what finirace audit -- python -m pytest ... would show, taken here)")
        for line in thread_lines(threads, fix=PYTEST_FIX):
            for text, style in line:
                tr.write(text, **({style: True} if style else {}))
            tr.line("")

    def pytest_sessionfinish(self, session, exitstatus):
        if self.launch is not None:
            self.launch.close()
        if self.store is not None:
            self.store.close()
        if self.bad:
            session.exitstatus = 1
