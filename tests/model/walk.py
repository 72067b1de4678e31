"""The reachable steps of a model system, and a scenario of three alike workers: what
the tests of a property that must hold on every step (footprints, local steps) and of
the searches over alike threads share, so that they walk and search the same things."""

from __future__ import annotations

THREE_WORKERS = """
name = "workers"
[threads]
main = ["init", "save", "spawn w1", "spawn w2", "spawn w3", "wait b1", "wait b2", "wait b3", "restore", "finalize"]
w1 = ["ensure", "save", "signal b1", "block", "restore", "release"]
w2 = ["ensure", "save", "signal b2", "block", "restore", "release"]
w3 = ["ensure", "save", "signal b3", "block", "restore", "release"]
"""


def steps(system):
    """Each step from each reachable state that no run has ended in, depth first, each state
    met once by its key: (state, thread, next state, transition)."""
    seen, stack = set(), [system.initial()]
    while stack:
        s = stack.pop()
        k = system.key(s)
        if k in seen or system.outcome(s) is not None:
            continue
        seen.add(k)
        for t in system.enabled(s):
            nxt, tr = system.step(s, t)
            stack.append(nxt)
            yield s, t, nxt, tr
