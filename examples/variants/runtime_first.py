"""A bpo-33608 design as a variant file: PyEval_RestoreThread asks _PyRuntime first.

The crash of bpo-33608 (the seed scenario under the ``prefix`` era): the late-2019
3.9 branch's ``PyEval_RestoreThread`` began with
``_PyRuntimeState *runtime = tstate->interp->runtime;``, a read of a thread state
that ``Py_FinalizeEx`` may already have freed.  The discussion's answer
(bpo-39877, "Access _PyRuntime directly rather than using
tstate->interp->runtime") was to ask the global runtime whether it is
finalizing *before* touching the thread state, and to exit the thread if so.

Written here as a patch of ``PyEval_RestoreThread`` in the ``prefix`` era, so
``finirace check`` can say what that one change buys before any C is written:

    finirace check seed restore-after --variant prefix --variant runtime-first \
        --variant-file examples/variants/runtime_first.py
"""

from finirace.model.api import Ctx, Program, Variant, give_up, instr, must_exit, variant


def _ask_runtime(c: Ctx) -> None:
    # PyEval_RestoreThread: if (_PyRuntime._finalizing != NULL && _PyRuntime._finalizing != tstate)
    #     PyThread_exit_thread();      (no read of *tstate before it)
    if must_exit(c):
        c.note = "_PyRuntime._finalizing is set: PyThread_exit_thread, tstate untouched"
        give_up(c)
    else:
        c.note = "_PyRuntime._finalizing is NULL: go on to take_gil"


def restore(v: Variant, steps: Program) -> Program:
    """The era's PyEval_RestoreThread without its first read of ``tstate->interp->runtime``,
    and a check of the global runtime in its place."""
    kept = tuple(s for s in steps if s.label != "PyEval_RestoreThread.tstate")
    return (instr("PyEval_RestoreThread.finalizing", _ask_runtime, "PyEval_RestoreThread"),) + kept


VARIANT = variant(
    base="prefix",
    name="runtime-first",
    summary="prefix, but PyEval_RestoreThread asks _PyRuntime._finalizing before it reads the thread state",
    refs=("bpo-33608", "bpo-39877"),
    patches={"PyEval_RestoreThread": restore},
)
