"""Symmetry reduction reaches exactly the outcomes of the unreduced search.

Outcome labels name threads, so a reduced search is only right if what it
carries across a key hit is renamed: ``clean, w2 exited`` must not come back as
``clean, w1 exited``.  Checked on every bundled scenario under every variant
(tests/explore/test_model_reduction.py) and here on generated scenarios with
2-4 workers, alike (the same steps, each its own event) or not.
"""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from finirace.explore import Exhaustive, replay
from finirace.explore.cheapest import CheapestRuns, OverBudget
from finirace.explore.persistent import explore_persistent
from finirace.explore.symmetric import explore_symmetric
from finirace.model import VARIANTS, build_system
from finirace.scenario import loads

LONG = ["ensure", "save", "signal {e}", "block", "restore", "release"]
TINY = [["signal {e}"], ["signal {e}", "block"], ["lock m", "unlock m"], ["block", "signal {e}"]]
SHORT = [
    ["ensure", "release"],
    ["signal {e}", "ensure", "release"],
    ["ensure", "save", "restore", "release"],
    ["ensure", 'python "x = 1"', "release"],
    ["lock m", "ensure", "release", "unlock m"],
]


def scenario(templates: list[list[str]], waits: list[int], join: bool) -> str:
    names = [f"w{i}" for i in range(1, len(templates) + 1)]
    main = ["init", "save", *(f"spawn {w}" for w in names)]
    signalled = [i for i, t in enumerate(templates) if "signal {e}" in t]
    main += [f"wait b{signalled[k % len(signalled)] + 1}" for k in waits] if signalled else []
    main += ["restore", "finalize"] + ([f"join {names[0]}"] if join else [])
    text = '[threads]\nmain = [' + ", ".join(_q(s) for s in main) + "]\n"
    for i, (w, t) in enumerate(zip(names, templates), 1):
        text += f"{w} = [" + ", ".join(_q(s.format(e=f"b{i}")) for s in t) + "]\n"
    return 'name = "generated"\n' + text


def _q(step: str) -> str:
    return '"' + step.replace('"', '\\"') + '"'


@st.composite
def scenarios(draw):
    """2 workers from the C-API templates, 3-4 from the small ones (plus at most one C-API one):
    the model's steps are fine grained, three attaching workers are already 40 000 states."""
    n = draw(st.integers(2, 4))
    pool = SHORT + [LONG] + TINY if n == 2 else TINY
    first = draw(st.sampled_from(pool))
    templates = [first if draw(st.booleans()) else draw(st.sampled_from(pool)) for _ in range(n)]
    if n == 3 and draw(st.booleans()):
        templates[draw(st.integers(0, 2))] = draw(st.sampled_from(SHORT[:2]))
    waits = draw(st.lists(st.integers(0, 3), max_size=2))
    return scenario(templates, waits, draw(st.booleans())), draw(st.sampled_from(list(VARIANTS)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_symmetry_reaches_the_outcomes_of_the_plain_search(case):
    text, variant = case
    system = build_system(loads(text), variant)
    system.canonical = system.symmetry.canonical  # the symmetric search even where nothing is alike
    reduced = explore_symmetric(system, None, "exhaustive")  # the cheapest-run pass over symmetric keys
    assert reduced is not None  # the model has no cycles
    plain = Exhaustive("none").explore(build_system(loads(text), variant))
    labels = {f.outcome.label for f in plain.found}
    assert {f.outcome.label for f in reduced.found} == labels
    assert reduced.states <= plain.states
    for f in reduced.found:  # every rebuilt run is a real run to its outcome
        assert replay(system, _token(f.choices)).outcome.label == f.outcome.label
    persistent = explore_persistent(system, None, "exhaustive")  # symmetry and persistent sets
    assert {f.outcome.label for f in persistent.found} == labels
    assert persistent.states <= plain.states
    for f in persistent.found:
        assert replay(system, _token(f.choices)).outcome.label == f.outcome.label
    system.canonical = None  # persistent sets alone
    ample = explore_persistent(system, None, "exhaustive")
    assert {f.outcome.label for f in ample.found} == labels


def _token(choices):
    from finirace.explore import encode

    return encode(choices)


def test_alike_workers_share_states_and_keep_their_names():
    text = scenario([LONG, LONG], [0, 1], False)
    system = build_system(loads(text), "exit")
    reduced = explore_symmetric(system, None, "exhaustive")
    plain = Exhaustive("none").explore(build_system(loads(text), "exit"))
    labels = {f.outcome.label for f in reduced.found}
    assert labels == {f.outcome.label for f in plain.found}
    assert "clean, w2 exited" in labels and "clean, w1 exited" in labels  # not folded into one name
    assert reduced.states < plain.states


def test_threads_that_differ_are_not_swapped():
    text = scenario([SHORT[0], SHORT[2]], [], False)
    system = build_system(loads(text), "exit")
    assert system.canonical is None  # nothing alike: the default search uses sleep sets
    ex = Exhaustive().explore(system)
    assert ex.strategy == "exhaustive"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_default_search_uses_symmetry_and_agrees(variant):
    text = scenario([TINY[1]] * 3 + [TINY[0]], [2, 0], True)
    default = Exhaustive().explore(build_system(loads(text), variant))
    sleep = Exhaustive("sleep").explore(build_system(loads(text), variant))
    assert {f.outcome.label for f in default.found} == {f.outcome.label for f in sleep.found}
    assert default.states < sleep.states


def test_past_its_budget_the_default_search_uses_persistent_sets(monkeypatch):
    from finirace.explore import exhaustive

    monkeypatch.setattr(exhaustive, "CHEAPEST_KEYS", 50)  # as if the scenario were four workers
    text = scenario([LONG, LONG], [0, 1], False)
    default = Exhaustive().explore(build_system(loads(text), "exit"))
    cheapest = explore_symmetric(build_system(loads(text), "exit"), None, "exhaustive")
    assert not default.minimal and cheapest.minimal
    assert {f.outcome.label for f in default.found} == {f.outcome.label for f in cheapest.found}
    assert default.states < cheapest.states  # persistent sets: fewer states than every move of every key
    assert default.over_budget and default.strategy == "exhaustive (persistent sets past 50 keys)"
    # the keys the pass finished carry their outcomes into the persistent-set search: the same
    # labels whatever the budget stopped it at
    for budget in (5, 200, 1000):
        monkeypatch.setattr(exhaustive, "CHEAPEST_KEYS", budget)
        got = Exhaustive().explore(build_system(loads(text), "exit"))
        assert got.over_budget and {f.outcome.label for f in got.found} == {f.outcome.label for f in cheapest.found}


def test_a_pass_stopped_at_its_budget_keeps_exact_outcomes_for_the_keys_it_finished():
    text = scenario([LONG, LONG, LONG], [0, 1, 2], False)
    system = build_system(loads(text), "exit")  # one system: keys are numbered by its symmetry
    with pytest.raises(OverBudget) as over:
        CheapestRuns(system, budget=400).search()
    part = over.value.runs.summaries()
    whole = CheapestRuns(system).search().summaries()
    assert 300 < len(part) < len(whole)
    assert all(whole[k] == s for k, s in part.items())
