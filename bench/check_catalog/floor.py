"""The search's own floor on the catalog: what no model, however fast, could take off.

Each scenario x era's state graph is first built whole (every reachable state's
outcome and moves, from the model), then searched again by the same default
search over that graph, where a state is a number and asking its moves is a
list lookup.  What that second search costs is the search loop alone (its keys,
sleep sets, frames); the real search's time less that floor is the model's.
Why a benchmark of its own: it says how fast the model's atomic steps would have
to be for a target on the whole search, e.g. 0.3 s, to be reachable at all.

    python bench/check_catalog/floor.py
"""

from __future__ import annotations

import json
import time

from finirace.explore import Exhaustive
from finirace.model import VARIANTS, build_system
from finirace.scenario import load_bundled


class Graph:
    """A system's reachable graph, precomputed: the System protocol over state numbers."""

    def __init__(self, system) -> None:
        self.threads = system.threads
        key = system.key
        first = system.initial()
        number = {key(first): 0}
        states = [first]
        self._outcome: list = []
        self._moves: list[dict] = []
        for state in states:  # grows as new states are met: breadth first
            outcome = system.outcome(state)
            moves = {}
            if outcome is None:
                for t in system.enabled(state):
                    nxt, tr = system.step(state, t)
                    j = number.setdefault(key(nxt), len(states))
                    if j == len(states):
                        states.append(nxt)
                    moves[t] = (j, tr)
            self._outcome.append(outcome)
            self._moves.append(moves)
        self.steps = sum(len(m) for m in self._moves)

    def initial(self) -> int:
        return 0

    def outcome(self, state: int):
        return self._outcome[state]

    def enabled(self, state: int) -> list[str]:
        return list(self._moves[state])

    def step(self, state: int, thread: str):
        return self._moves[state][thread]

    def expand(self, state: int, asleep, inherited, new: bool, came=None):
        """The System hook the search asks (model/moves.expand's shape): outcome and moves."""
        outcome = self._outcome[state] if new else None
        if outcome is not None:
            return outcome, {}, None
        return None, self._moves[state], None


def measure(repeats: int = 3) -> dict:
    """CPU seconds (fastest of ``repeats``) of the default search over the catalog under every
    era, on the model and on the precomputed graphs; states and the graphs' moves."""
    systems = [(sc, var) for sc in load_bundled() for var in VARIANTS]
    real = floor = float("inf")
    states = 0
    for _ in range(repeats):
        t = time.process_time()
        states = sum(Exhaustive().explore(build_system(sc, var)).states for sc, var in systems)
        real = min(real, time.process_time() - t)
    graphs = [Graph(build_system(sc, var)) for sc, var in systems]
    for _ in range(repeats):
        t = time.process_time()
        again = sum(Exhaustive().explore(g).states for g in graphs)
        floor = min(floor, time.process_time() - t)
    if again != states:
        raise SystemExit(f"the precomputed graphs gave {again} states, the model {states}")
    return {"states": states, "steps": sum(g.steps for g in graphs), "model": real, "floor": floor}


def line(m: dict, target: float) -> str:
    """The row printed by run.py: the floor beside the real search, and what a target leaves
    the model per step of the graph."""
    left = target - m["floor"]
    per = f"{left / m['states'] * 1e6:.1f} µs" if left > 0 else "nothing"
    return (f"the search loop alone over the same {m['states']} states (every move precomputed): "
            f"{m['floor']:.2f} s of CPU, the search on the model {m['model']:.2f} s "
            f"(model/floor {m['model'] / m['floor']:.1f}); at {target} s the model would have "
            f"{per} a state for its outcome and moves ({m['steps'] / m['states']:.1f} moves a state), against "
            f"{(m['model'] - m['floor']) / m['states'] * 1e6:.1f} µs today")


if __name__ == "__main__":
    print(json.dumps(measure()))
