"""The exit guard's protocol in the model: clean where it reaches a safe point, the bounded wait where it cannot."""

from __future__ import annotations

import pytest

from finirace.explore import check
from finirace.model import VARIANTS
from finirace.scenario import catalog, loads

SCENARIOS = {sc.name: sc for sc in catalog.load_bundled()}
GUARDED = ("cxx-noexcept-guarded", "daemon-at-exit-guarded", "hang-at-exit-guarded")


def _text(name: str) -> str:
    return next(p for p in catalog.bundled_paths() if p.stem == name).read_text()


def _notes(verdict) -> list[str]:
    return [s.transition.note for cx in verdict.counterexamples for s in cx.trace]


@pytest.mark.parametrize("name", GUARDED)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_guarded_scenarios_are_clean_under_every_era(name, variant):
    v = check(SCENARIOS[name], variant)
    assert v.complete and v.labels == ("clean",), v.labels


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_same_scenarios_without_the_guard_are_not(variant):
    reached = set()
    for name in GUARDED:
        text = _text(name).replace('"exit_guard", ', "").replace(f'name = "{name}"', f'name = "{name}-bare"')
        reached |= set(check(loads(text), variant).labels)
    assert reached - {"clean"}, f"without the guard every case is clean under {variant}: the guarded ones prove nothing"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_thread_blocked_in_c_for_ever_gets_exactly_the_unguarded_outcome(variant):
    guarded = check(SCENARIOS["exit-guard-bound"], variant)
    bare_text = _text("exit-guard-bound").replace('"exit_guard", ', "").replace(
        'name = "exit-guard-bound"', 'name = "exit-guard-bound-bare"')
    bare = check(loads(bare_text), variant)
    assert guarded.labels == bare.labels
    assert any("the bound runs out: worker still in C" in n for n in _notes(guarded))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_park_leaves_the_daemon_hung_outside_the_runtime_and_the_run_clean(variant):
    v = check(SCENARIOS["daemon-at-exit-parked"], variant)
    assert set(v.labels) <= {"clean", "clean, daemon hung"} and "clean, daemon hung" in v.labels, v.labels
    assert any("parked for ever by the exit guard" in n for n in _notes(v))
