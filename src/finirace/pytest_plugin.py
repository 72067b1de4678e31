"""finirace's pytest plugin: ``--finirace-runs N`` and ``--finirace-audit``.

Without either option it registers two options and does nothing else, so the
project's own suite (which loads it through the entry point) pays nothing.
"""

from __future__ import annotations


def pytest_addoption(parser):
    group = parser.getgroup("finirace", "finirace: crashes and hangs at interpreter exit")
    group.addoption("--finirace-runs", type=int, default=0, metavar="N",
                    help="rerun each selected test N times in subprocesses; fail those that crash or hang at exit")
    group.addoption("--finirace-audit", action="store_true", default=False,
                    help="report threads alive at session end, with what each CPython era does to them")
