"""The persistent-set search (explore/persistent.py) with and without the system's optional
``ended`` and ``expand`` hooks.

A fault's end goes into its parent's summary without a key (``System.ended``), and a
state's outcome and moves come in one ask carried over from its parent's
(``System.expand``).  Neither may change what the search finds: the same outcome labels
and transitions, and at most the states, of the search through ``outcome``, ``enabled``
and ``step`` alone.  Checked on alike workers under ``legacy36``, where a fifth of the
transitions fault, and ``exit``.
"""

from __future__ import annotations

import pytest

from finirace.explore.exploration import collector_paused
from finirace.explore.persistent import explore_persistent
from finirace.model import build_system
from finirace.scenario import loads

WORKERS = """
name = "workers"
[threads]
main = ["init", "save", "spawn w1", "spawn w2", "spawn w3", "wait b1", "wait b2", "wait b3", "restore", "finalize"]
w1 = ["ensure", "save", "signal b1", "block", "restore", "release"]
w2 = ["ensure", "save", "signal b2", "block", "restore", "release"]
w3 = ["ensure", "save", "signal b3", "block", "restore", "release"]
"""


class _Plain:
    """The machine without its optional ``ended`` and ``expand`` hooks."""

    def __init__(self, machine) -> None:
        self._m = machine

    def __getattr__(self, name):
        if name in ("ended", "expand"):
            raise AttributeError(name)
        return getattr(self._m, name)


def _search(system):
    with collector_paused():
        return explore_persistent(system, None, "persistent")


@pytest.mark.parametrize("variant", ["legacy36", "exit"])
def test_hooks_change_nothing_the_search_finds(variant):
    hooked = _search(build_system(loads(WORKERS), variant))
    plain = _search(_Plain(build_system(loads(WORKERS), variant)))
    assert {f.outcome.label for f in hooked.found} == {f.outcome.label for f in plain.found}
    assert hooked.transitions == plain.transitions
    assert hooked.states <= plain.states
    if variant == "legacy36":
        assert hooked.states < plain.states  # its faults are ends without keys
