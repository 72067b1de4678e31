"""The registry of model variants: one module per CPython behaviour era.

Every module of this package that defines ``VARIANT`` is an era; they are
found by listing the package (no list to keep by hand) and put in order by
``Variant.follows``, each after the era it is written as a change from.  Adding
an era is one module here whose ``VARIANT`` is ``PREVIOUS.then(...)``; see
docs/design.md, "How to add an era".
"""

from __future__ import annotations

import pkgutil
from importlib import import_module

from finirace.model.variant import Variant, in_era_order


def _discover() -> dict[str, Variant]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = import_module(f"{__name__}.{info.name}")
        variant = getattr(module, "VARIANT", None)
        if isinstance(variant, Variant):
            found.append(variant)
    return in_era_order(found)


VARIANTS: dict[str, Variant] = _discover()


def variant_for_version(major: int, minor: int) -> str | None:
    """The era a real interpreter of this version maps to, or None."""
    for name, v in VARIANTS.items():
        if (major, minor) in v.released:
            return name
    return None


def released() -> tuple[Variant, ...]:
    """The eras of real CPython releases, in order (what ``finirace audit`` predicts for)."""
    return tuple(v for v in VARIANTS.values() if v.released)


__all__ = ["VARIANTS", "released", "variant_for_version"]
