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
from finirace.model import VARIANTS, build_system
from finirace.scenario import loads
from tests.model.walk import THREE_WORKERS

WORKERS = THREE_WORKERS


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


def _seed_shaped(workers: int) -> str:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "check_catalog"))
    from run import seed_shaped_text

    return seed_shaped_text(workers)


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_c_api_steps_taken_alone_keep_every_outcome(workers, variant):
    # local C-API steps (model/footprint.py, model/locality.py): persistent sets over symmetric
    # keys reach exactly the labels of the same search trying every move, from fewer states
    text = _seed_shaped(workers)
    reduced = _search(build_system(loads(text), variant))
    with collector_paused():
        full = explore_persistent(build_system(loads(text), variant), None, "full", persistent=False)
    assert {f.outcome.label for f in reduced.found} == {f.outcome.label for f in full.found}
    assert reduced.states < full.states


def test_c_api_steps_are_taken_alone():
    # a worker's PyGILState_Ensure reads only the runtime, which no other thread writes while
    # main waits for that worker's event: local, where before only event and lock steps were
    system = build_system(loads(_seed_shaped(3)), "exit313")
    state = system.initial()
    while system.threads[1] not in system.enabled(state) or state.threads[0].pc < 5:
        state = system.step(state, system.enabled(state)[0])[0]
    assert system.current(state, 1)[0].label == "PyGILState_Ensure"
    nxt, tr = system.step(state, "w1")
    assert tr.reads - {"process"} == {"runtime"} and system.local(state, 1, tr, nxt)

