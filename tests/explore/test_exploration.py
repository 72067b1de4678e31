"""The recorder every search fills: its progress reports while a search goes."""

from __future__ import annotations

import pytest

from finirace.explore import exploration
from finirace.explore.exploration import collector_paused
from finirace.explore.persistent import explore_persistent
from finirace.explore.symmetric import explore_symmetric
from finirace.model import build_system
from finirace.scenario import loads
from tests.model.walk import THREE_WORKERS


@pytest.mark.parametrize("search", ["persistent", "cheapest"])
def test_progress_counts_outcomes_while_the_search_goes(search, monkeypatch):
    """Both searches keep summaries and rebuild their runs only at the end: progress still says
    how many outcomes were met so far, not 0 until the last report."""
    monkeypatch.setattr(exploration.Recorder, "EVERY", 64)  # a small scenario still reports
    seen = []
    system = build_system(loads(THREE_WORKERS), "exit")
    with collector_paused():
        if search == "persistent":
            got = explore_persistent(system, seen.append, "persistent")
        else:
            got = explore_symmetric(system, seen.append, "exhaustive")
    labels = {f.outcome.label for f in got.found}
    assert len(seen) > 2
    assert 0 < seen[-1].outcomes <= len(labels)
    assert [p.outcomes for p in seen] == sorted(p.outcomes for p in seen)
