"""Which program of atomic steps each scenario step kind stands for.

The step vocabulary is the scenario layer's (:data:`finirace.scenario.STEP_KINDS`);
this table gives each name its meaning in the model, as the lab's
:data:`finirace.lab.statements.C_STEPS` gives it its C.  A kind missing here is
a model gap, caught by a test that walks the whole vocabulary.

An operation builds the atomic steps of one step under a variant, from the
step's argument where the steps themselves differ (``block`` with or without
``until``); most read their argument (the thread, event, lock, code) when they
run, from the step, and build the same steps for any argument.
"""

from __future__ import annotations

from typing import Callable

from finirace.model import exitguard, gil, helper, interpreters, lifecycle, pystate, threads
from finirace.model.program import Program
from finirace.model.variant import Variant
from finirace.scenario.steps import STEP_KINDS

Operation = Callable[[Variant, "str | None"], Program]


def _any_arg(build: Callable[[Variant], Program]) -> Operation:
    """An operation whose atomic steps are the same whatever the step's argument."""
    return lambda variant, arg: build(variant)


def _block(variant: Variant, until: str | None) -> Program:
    return threads.block(variant, until=until is not None)


OPERATIONS: dict[str, Operation] = {
    "init": _any_arg(lifecycle.init),
    "finalize": _any_arg(lifecycle.finalize),
    "init_threads": _any_arg(gil.init_threads_call),
    "spawn": _any_arg(threads.spawn),
    "join": _any_arg(threads.join),
    "start_thread": _any_arg(threads.start_thread),
    "python_thread": _any_arg(threads.python_thread),
    "ensure": _any_arg(pystate.ensure),
    "release": _any_arg(pystate.release),
    "save": _any_arg(pystate.save),
    "restore": _any_arg(pystate.restore),
    "new_tstate": _any_arg(pystate.new_tstate),
    "clear_tstate": _any_arg(pystate.clear_tstate),
    "delete_tstate": _any_arg(pystate.delete_tstate),
    "new_interp": _any_arg(interpreters.new_interp),
    "end_interp": _any_arg(interpreters.end_interp),
    "new_tstate_in": _any_arg(interpreters.new_tstate_in),
    "python": _any_arg(threads.python),
    "block": _block,
    "guard": _any_arg(threads.guard),
    "unguard": _any_arg(threads.unguard),
    "lock": _any_arg(threads.lock),
    "unlock": _any_arg(threads.unlock),
    "signal": _any_arg(threads.signal),
    "wait": _any_arg(threads.wait),
    "exit_guard": lambda variant, arg: exitguard.exit_guard(variant, exitguard.STOP),
    "exit_guard_park": lambda variant, arg: exitguard.exit_guard(variant, exitguard.PARK),
    # finirace_guard.h (model/helper.py): the helper's own logic on top of the era
    "fr_setup": _any_arg(helper.setup),
    "fr_guard": _any_arg(helper.guard),
    "fr_unguard": _any_arg(helper.unguard),
    "fr_ensure": _any_arg(helper.ensure),
    "fr_release": _any_arg(helper.release),
    "fr_save": _any_arg(helper.save),
    "fr_restore": _any_arg(helper.restore),
}


def program_for(kind: str, arg: str | None, variant: Variant) -> Program:
    """The atomic steps of one scenario step under a variant; a call into CPython is
    skipped by a thread whose guard-helper call failed (:func:`helper.skip_when_failed`)."""
    program = OPERATIONS[kind](variant, arg)
    if STEP_KINDS[kind].cpython:
        program = helper.skip_when_failed(program, kind)
    return program


def known_kinds() -> frozenset[str]:
    return frozenset(OPERATIONS)
