"""Patched C functions: a variant that replaces the atomic steps of one modelled function.

Why by frames and not by hooks in every builder: each atomic step already names
the chain of modelled C functions it runs in (``Instr.frames``, innermost
first), so one call of ``take_gil`` inside ``PyEval_RestoreThread`` inside
``PyGILState_Ensure`` is the run of consecutive steps whose frames hold
``take_gil`` under the same callers.  A patch replaces each such run with the
steps it returns, wherever the era calls that function, without the model's
builders knowing that patches exist.  This is how a variant written outside the
package (``finirace check --variant-file``, :mod:`finirace.model.api`) tries a
fix of ``take_gil`` or ``PyEval_RestoreThread`` before anyone writes C.

A patch is ``patch(variant, steps) -> Program``: ``steps`` are the era's own
steps of that one call, their frames cut to end at the patched function; the
steps it returns are written the same way (``instr(label, run, "take_gil")``,
or frames that end in it), and get the callers back.  The first step it returns
also answers to the first label of the steps it replaced, so a ``goto`` of the
caller (``PyGILState_Ensure`` jumping into ``PyEval_RestoreThread``) still lands.
"""

from __future__ import annotations

from dataclasses import replace

from finirace.model.program import Instr, Program


def known_functions(programs) -> frozenset[str]:
    """Every C function named in the frames of these programs."""
    return frozenset(f for prog in programs for ins in prog for f in ins.frames)


def patched(prog: Program, variant) -> Program:
    """``prog`` with every call of a patched function replaced by the patch's steps."""
    for function, patch in variant.patches:
        prog = _replace_calls(prog, function, patch, variant)
    return prog


def _replace_calls(prog: Program, function: str, patch, variant) -> Program:
    out: list[Instr] = []
    i = 0
    while i < len(prog):
        ins = prog[i]
        if function not in ins.frames:
            out.append(ins)
            i += 1
            continue
        callers = _callers(ins, function)
        j = i
        while j < len(prog) and function in prog[j].frames and _callers(prog[j], function) == callers:
            j += 1
        inner = tuple(replace(s, frames=s.frames[:len(s.frames) - len(callers)]) for s in prog[i:j])
        new = tuple(patch(variant, inner))
        if not new or not all(isinstance(s, Instr) for s in new):
            raise TypeError(f"the patch of {function} must return atomic steps (a tuple of instr(...))")
        new = tuple(replace(s, frames=s.frames + callers) for s in new)
        if new[0].label != prog[i].label:
            new = (replace(new[0], aliases=new[0].aliases + (prog[i].label,)),) + new[1:]
        out.extend(new)
        i = j
    return tuple(out)


def _callers(ins: Instr, function: str) -> tuple[str, ...]:
    """The frames outside the outermost call of ``function`` (a step written as
    ``instr(..., "F")`` inside ``call("F", ...)`` names F twice)."""
    frames = ins.frames
    last = len(frames) - 1 - frames[::-1].index(function)
    return frames[last + 1:]
