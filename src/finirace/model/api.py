"""What a variant file imports: the stable surface for writing a variant outside the package.

A core developer checks a fix before writing C by describing it as a change to
an existing era, in a Python file of their own, and running
``finirace check SCENARIO --variant-file mypatch.py``.  The file defines
``VARIANT = variant(base="exit", name="my-fix", summary=..., patches={...})``:
switches of :class:`Variant` that differ from the base era, and patches that
replace the atomic steps of a modelled C function (``take_gil``,
``PyEval_RestoreThread``, ``PyGILState_Ensure``, ``Py_FinalizeEx``, ...)
wherever the era calls it (:mod:`finirace.model.patch`).

Only the names in ``__all__`` are promised to stay; everything else in
``finirace.model`` may change between releases.  docs/variant-files.md shows a
worked example and documents what a step may do with its :class:`Ctx`.
"""

from __future__ import annotations

from typing import Callable, Mapping

from finirace.model.gil import drop_gil, give_up, must_exit
from finirace.model.program import Ctx, Fault, Instr, NotReady, Program, call, instr
from finirace.model.variant import Fate, Variant

Patch = Callable[[Variant, Program], Program]

__all__ = [
    "Ctx", "Fate", "Fault", "Instr", "NotReady", "Patch", "Program", "Variant", "VariantError",
    "call", "drop_gil", "era", "eras", "give_up", "instr", "must_exit", "variant",
]


class VariantError(ValueError):
    """A variant that cannot be made: unknown base era, unknown or unchanged switch, bad patches."""


def eras() -> tuple[str, ...]:
    """The names of the built-in eras, oldest first."""
    from finirace.model.variants import VARIANTS

    return tuple(VARIANTS)


def era(name: str) -> Variant:
    """A built-in era by name (``"exit"``, ``"hang"``, ...)."""
    from finirace.model.variants import VARIANTS

    v = VARIANTS.get(name)
    if v is None:
        raise VariantError(f"unknown base era {name!r} (known: {', '.join(VARIANTS)})")
    return v


def variant(*, base: str, name: str, summary: str, refs: tuple[str, ...] = (), title: str = "",
            patches: Mapping[str, Patch] | None = None, fate: Fate | None = None,
            **switches: object) -> Variant:
    """A model-only variant: ``base`` with ``switches`` changed and C functions patched.

    ``patches`` maps a modelled C function's name to ``patch(variant, steps) ->
    Program``: ``steps`` are the base era's atomic steps of one call of it, and
    what it returns runs instead, in every call."""
    before = era(base)
    if not isinstance(name, str) or not name.strip() or any(ch.isspace() for ch in name):
        raise VariantError(f"variant name {name!r}: give one word, e.g. 'my-fix'")
    pairs = tuple((patches or {}).items())
    for function, patch in pairs:
        if not isinstance(function, str) or not callable(patch):
            raise VariantError(f"variant {name!r}: patches maps a C function's name to a callable, "
                               f"not {function!r}: {type(patch).__name__}")
    if pairs:
        switches["patches"] = pairs
    try:
        return before.then(name=name, title=title or f"{base}, patched", versions="model only (variant file)",
                           released=(), summary=summary, refs=tuple(refs), source=f"the {base} era, changed",
                           fate=fate, **switches)
    except (TypeError, ValueError) as exc:
        raise VariantError(str(exc)) from None
