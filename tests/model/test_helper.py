"""The guard helper (model/helper.py) in the model: the header's protocol on top of
every era, and a model that would see the header's mistakes.

The catalog's ``*-helper`` scenarios and ``helper-timeout`` (three workers) are clean under every era
the header supports (3.7-3.14: legacy, exit, hang; and the model-only prefix and
wrapper); under ``guards`` (3.15) the names are PEP 788's, whose wait has no bound,
so a guard kept until after ``Py_FinalizeEx`` returned deadlocks the exit.  Taking
out the piece of the header's logic that its memory safety rests on (the entry
window's counter: the guards and the wait only let threads come back in time) makes
a late end meet ``pthread_exit`` in its noexcept frame: the model checks the header,
not an idea of it.
"""

from __future__ import annotations

from dataclasses import replace
import pytest

from finirace.explore import check
from finirace.model import VARIANTS, helper
from finirace.outcome import RunKind, ThreadOutcome
from finirace.scenario import catalog
from finirace.scenario.format import loads

SCENARIOS = {sc.name: sc for sc in catalog.load_bundled()}
HELPER = ["seed-helper", "ensure-after-helper", "cxx-noexcept-helper", "daemon-at-exit-helper",
          "hang-at-exit-helper", "helper-timeout"]
# every era of 3.7-3.14 (and the model-only ones): all but 3.6's and PEP 788's
SUPPORTED = [v for v in VARIANTS if v not in ("legacy36", "guards")]
# cxx-noexcept-helper with the worker's wake-up left free: it may come back at any moment
NOEXCEPT_UNORDERED = loads("""
name = "noexcept-unordered"
[threads]
main = ["init", "fr_setup", "save", "spawn worker", "wait blocked", "restore", "finalize"]
worker = ["fr_ensure", "fr_save", "signal blocked", "block", "noexcept fr_restore", "fr_release"]
""")


@pytest.mark.parametrize("variant", SUPPORTED)
@pytest.mark.parametrize("name", HELPER)
def test_helper_scenarios_are_clean_under_every_supported_era(name, variant):
    v = check(SCENARIOS[name], variant)
    assert {o.kind for o in v.outcomes} == {RunKind.CLEAN}, v.labels
    # nobody is killed inside the runtime; only a threading thread may be parked by the helper
    for o in v.outcomes:
        for t in o.threads:
            assert t.outcome != ThreadOutcome.EXITED, (name, variant, o)
            if t.outcome == ThreadOutcome.HUNG:
                assert t.where == "finirace_enter_" or t.step.text == "fr_restore", (name, variant, t)


def test_the_timeout_scenario_reaches_the_bound_and_both_fates():
    v = check(SCENARIOS["helper-timeout"], "exit")
    assert tuple(v.labels) == ("clean",)
    notes = " ".join(s.transition.note for cx in v.counterexamples for s in cx.trace)
    assert "the bound ran out" in notes and "guard(s) held: warning on stderr" in notes


def test_under_pep_788_a_guard_kept_past_finalization_deadlocks():
    """3.15's guards wait for ever: the counterexample the docs give."""
    for name in ("cxx-noexcept-helper", "hang-at-exit-helper", "helper-timeout"):
        v = check(SCENARIOS[name], "guards")
        assert [o.kind for o in v.outcomes] == [RunKind.TIMEOUT], (name, v.labels)
    assert {o.kind for o in check(SCENARIOS["seed-helper"], "guards").outcomes} == {RunKind.CLEAN}


def test_without_the_entry_counter_a_late_end_is_killed_in_its_noexcept_frame(monkeypatch):
    """finirace_enter_ without ``entering += 1``: the callback no longer waits for a
    thread between its phase check and PyEval_RestoreThread, which then meets
    pthread_exit inside the noexcept frame (3.9-3.13)."""
    assert {o.kind for o in check(NOEXCEPT_UNORDERED, "exit").outcomes} == {RunKind.CLEAN}  # the real header
    real_entered = helper._entered

    def entered(kind):
        run = real_entered(kind)

        def no_decrement(c):
            c.helper = replace(c.helper, entering=c.helper.entering + 1)
            run(c)
        return no_decrement
    monkeypatch.setattr(helper, "_enter_count", lambda c: None)
    monkeypatch.setattr(helper, "_entered", entered)
    v = check(NOEXCEPT_UNORDERED, "exit")
    assert RunKind.ABORT in {o.kind for o in v.outcomes}, v.labels

