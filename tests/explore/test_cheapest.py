"""The cheapest-run tables: least (preemptions, steps) to each outcome, exactly.

Checked against a plain recursion over every run (toy systems), against the
shortest-path search over the unreduced graph (the model), and, for the
symmetry-reduced tables, state by state against the tables of the same
system without symmetry: every reachable state, every previous thread.
"""

from hypothesis import HealthCheck, given, settings, strategies as st

from finirace.explore import Exhaustive, encode, replay
from finirace.explore.cheapest import PREEMPTION, CheapestRuns
from finirace.explore.minimize import dijkstra
from finirace.model import VARIANTS, build_system
from finirace.scenario import loads

from .test_exhaustive import programs
from .test_symmetric import SHORT, TINY, scenario
from .toys import Counter, LockOrder, Program, TwoPreemptions, brute_force


def _pairs(runs: CheapestRuns) -> dict[str, tuple[int, int]]:
    costs = runs.outcomes()
    return {label: divmod(costs[ok], PREEMPTION) for label, ok in runs.labels().items()}


def _found(runs: CheapestRuns) -> dict[str, tuple[int, int]]:
    out = {}
    for label, ok in runs.labels().items():
        f = runs.cheapest(ok)
        assert f.outcome.label == label
        out[label] = (f.preemptions, len(f.choices))
    return out


def test_toys_cost_what_every_run_says():
    for system in (Counter(3), LockOrder(), TwoPreemptions()):
        runs = CheapestRuns(system).search()
        assert _pairs(runs) == _found(runs) == brute_force(system)


@settings(max_examples=150, deadline=None)
@given(programs)
def test_random_programs_cost_what_every_run_says(code):
    system = Program(code)
    runs = CheapestRuns(system).search()
    assert _pairs(runs) == _found(runs) == brute_force(system)


def _reachable(system):
    seen, stack = {}, [system.initial()]
    while stack:
        s = stack.pop()
        k = system.key(s)
        if k in seen:
            continue
        seen[k] = s
        if system.outcome(s) is None:
            stack.extend(system.step(s, t)[0] for t in system.enabled(s))
    return list(seen.values())


def _same_tables(text: str, variant: str) -> None:
    """The symmetric tables, renamed, are the plain ones at every state and previous thread."""
    system = build_system(loads(text), variant)
    system.canonical = system.symmetry.canonical  # symmetric keys even where nothing is alike
    sym = CheapestRuns(system).search()
    plain_system = build_system(loads(text), variant)
    plain_system.canonical = None
    plain = CheapestRuns(plain_system).search()
    n = len(system.threads)
    for s in _reachable(plain_system):
        _, perm, node = sym.lookup(s)
        _, _, pnode = plain.lookup(s)
        for prev in [None, *range(n)]:
            got = sym.carry(sym.project(node, None if prev is None else perm[prev]), perm, sym.identity)
            assert got == plain.project(pnode, prev), (s, prev)


def test_a_main_still_waiting_is_not_one_whose_wait_is_over():
    # main waits for b1 while only b2 is signalled: its image under the swap of w1 and w2
    # (main waiting for a signalled b1) ends the same ways, but not at the same costs
    text = scenario([["signal {e}", "ensure", "release"]] * 2, [0], False)
    _same_tables(text, "legacy36")


@st.composite
def small_scenarios(draw):
    n = draw(st.integers(2, 3))
    pool = SHORT[:2] + TINY if n == 2 else TINY
    first = draw(st.sampled_from(pool))
    templates = [first if draw(st.booleans()) else draw(st.sampled_from(pool)) for _ in range(n)]
    waits = draw(st.lists(st.integers(0, 3), max_size=2))
    return scenario(templates, waits, draw(st.booleans())), draw(st.sampled_from(list(VARIANTS)))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_scenarios())
def test_symmetric_tables_are_the_plain_ones_renamed(case):
    _same_tables(*case)


def test_seed_with_two_workers_matches_the_shortest_path_search():
    text = scenario([["ensure", "save", "signal {e}", "block", "restore", "release"]] * 2, [0, 1], False)
    system = build_system(loads(text), "exit")
    ex = Exhaustive().explore(system)
    assert ex.minimal
    by_dijkstra = {f.outcome.label: (f.preemptions, len(f.choices)) for f in dijkstra(system, ex.found, 10**6)}
    assert {f.outcome.label: (f.preemptions, len(f.choices)) for f in ex.found} == by_dijkstra
    assert "clean, w1 exited" in by_dijkstra and "clean, w2 exited" in by_dijkstra
    for f in ex.found:  # each run replays to its outcome, with the preemptions it says
        cx = replay(system, encode(f.choices))
        assert cx.outcome.label == f.outcome.label and cx.preemptions == f.preemptions
