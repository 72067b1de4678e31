"""3.6.15 against the model's ``legacy36`` era: a stale, hand-made thread state.

3.6 makes the GIL on first use, so in ``restore-after`` (no ``PyGILState_Ensure``,
no threading thread) there is none: the late ``PyEval_RestoreThread`` neither
waits nor checks ``_Py_Finalizing``, and the next call reads the freed state.
3.7 made the GIL in ``Py_Initialize``: the same program blocks in ``take_gil``.
"""

from __future__ import annotations

from finirace import conformance
from finirace.lab import session
from finirace.outcome import RunKind
from finirace.scenario import catalog

from .conftest import interpreter


def _graded(name, versions, detector, timeout=10.0):
    sc = catalog.resolve(name)
    interps = [interpreter(v) for v in versions]
    runs = session.execute(session.plan([sc], interps, [detector]), workers=2, timeout=timeout)
    return [(run, conformance.grade(run, conformance.predict(sc, i))) for run, i in zip(runs, interps)]


def test_restore_after_on_3_6_reads_the_freed_state_as_legacy36_predicts():
    ((run, cmp),) = _graded("restore-after", [(3, 6)], "valgrind")
    assert cmp.predicted.variant == "legacy36"
    assert cmp.predicted.labels == ("memory-error",)
    assert cmp.match == conformance.YES, (cmp.why, run.outcome.label)
    stale = [e for e in run.outcome.memory_errors if e.block.startswith("PyThreadState")]
    assert stale, [e.lines() for e in run.outcome.memory_errors[:3]]
    e = stale[0]
    # the model's own counterexample names the same three steps
    (model,) = cmp.predicted.outcomes
    (m,) = model.memory_errors
    assert str(e.access.step) == str(m.access.step) == 'worker[7] python "x = 2"'
    assert str(e.freed_by.step) == str(m.freed_by.step) == "main[5] finalize"
    assert str(e.allocated_by.step) == str(m.allocated_by.step) == "worker[0] new_tstate"


def test_restore_after_on_3_7_still_blocks_in_take_gil_as_legacy_predicts():
    ((run, cmp),) = _graded("restore-after", [(3, 7)], "plain", timeout=3.0)
    assert cmp.predicted.variant == "legacy"
    assert run.outcome.kind is RunKind.TIMEOUT
    assert cmp.match == conformance.YES, (cmp.why, run.outcome.label)
