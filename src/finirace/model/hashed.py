"""Frozen dataclasses whose hash is computed once per object.

The model's states are trees of frozen dataclasses; the explorer hashes each
state it meets several times (its cache, the machine's cache of steps), and a
plain frozen dataclass rehashes all of its fields, recursively, on every call.
Measured, that was the largest single cost of a search (docs/check.md).
"""

from __future__ import annotations

from dataclasses import fields


def cached_hash(cls):
    """Give a frozen dataclass a hash computed once per object.

    Why: the explorer hashes every state it meets (its cache, and the machine's
    cache of steps), and a frozen dataclass recomputes its hash from all its
    fields, recursively, on every call: it was the largest single cost of a
    search.  The hash is kept outside the fields, so equality, ``replace`` and
    ``repr`` do not see it; it is dropped when pickled (string hashes differ
    between processes).
    """
    names = tuple(f.name for f in fields(cls))

    def __hash__(self) -> int:
        try:
            return self.__dict__["_hash"]
        except KeyError:
            h = hash(tuple([getattr(self, n) for n in names]))
            object.__setattr__(self, "_hash", h)
            return h

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    cls.__hash__ = __hash__
    cls.__getstate__ = __getstate__
    cls._field_names = frozenset(names)
    return cls


def evolve(obj, **changes):
    """``dataclasses.replace`` for a :func:`cached_hash` class, without its checks.

    Why: a step builds a new thread record or GIL for every change, hundreds of
    thousands of times in a search, and ``replace`` re-runs ``__init__`` with
    every field looked up by name; this copies the fields as they are.
    """
    unknown = changes.keys() - obj._field_names
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {', '.join(sorted(unknown))}")
    new = object.__new__(type(obj))
    d = new.__dict__
    d.update(obj.__dict__)
    d.pop("_hash", None)
    d.update(changes)
    return new
