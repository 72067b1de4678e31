"""An executable model of CPython finalization, one variant per behaviour.

Public API: :data:`VARIANTS`, :class:`Variant`, :func:`variant_for_version`,
:func:`build_system`.  See docs/model.md for the model as a whole.
"""

from __future__ import annotations

from finirace.errors import UsageError
from finirace.model.machine import Machine
from finirace.model.system import System, Transition
from finirace.model.variant import Variant
from finirace.model.variants import VARIANTS, variant_for_version

__all__ = ["VARIANTS", "Variant", "variant_for_version", "build_system", "System", "Transition", "Machine"]


def build_system(scenario, variant_name: "str | Variant") -> System:
    """The scenario under a variant (a built-in era's name, or a Variant a variant file made),
    as the transition system the explorer walks."""
    if isinstance(variant_name, Variant):
        return Machine(scenario, variant_name)
    v = VARIANTS.get(variant_name)
    if v is None:
        raise UsageError(f"unknown model variant {variant_name!r} (known: {', '.join(VARIANTS)})")
    return Machine(scenario, v)
