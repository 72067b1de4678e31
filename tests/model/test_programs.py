"""The model's operation of each step kind: one per kind of the vocabulary, under every variant."""

from __future__ import annotations

import pytest

from finirace.model import VARIANTS
from finirace.model.programs import OPERATIONS, program_for
from finirace.scenario import STEP_KINDS, Arg

ARG = {Arg.NONE: None, Arg.THREAD: "w", Arg.EVENT: "go", Arg.LOCK: "L", Arg.CODE: "x = 1", Arg.OPTIONAL_UNTIL: "go"}


def test_every_step_kind_has_an_operation_and_nothing_else_has():
    assert set(OPERATIONS) == set(STEP_KINDS)


@pytest.mark.parametrize("kind", list(STEP_KINDS))
def test_each_operation_builds_atomic_steps_naming_c_functions_under_every_variant(kind):
    for variant in VARIANTS.values():
        program = program_for(kind, ARG[STEP_KINDS[kind].arg], variant)
        assert len(program) >= 1
        assert all(ins.function for ins in program)


def test_the_argument_reaches_the_operation_where_it_changes_the_steps():
    v = VARIANTS["exit"]
    assert [i.waits for i in program_for("block", "go", v)] == ["event"]  # block until go: waits for the event
    assert [i.waits for i in program_for("block", None, v)] == [None]  # a bare block returns at once
