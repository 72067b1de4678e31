"""The registry of model variants: one module per CPython behaviour, in era order.

A new variant (the finirace guard helper is next) is one more module here with
a ``VARIANT`` and one more name in ``_MODULES``.
"""

from __future__ import annotations

from importlib import import_module

from finirace.model.variant import Variant

_MODULES = ("legacy36", "legacy", "prefix", "wrapper", "exit", "hang", "guards")

VARIANTS: dict[str, Variant] = {}
for _name in _MODULES:
    _v = import_module(f"finirace.model.variants.{_name}").VARIANT
    VARIANTS[_v.name] = _v
