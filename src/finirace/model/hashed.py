"""Frozen dataclasses whose hash is computed once per object, and compared cheaply.

The model's states are trees of frozen dataclasses; the explorer hashes each
state it meets several times (its cache, the machine's cache of steps), and a
plain frozen dataclass rehashes all of its fields, recursively, on every call.
Measured, that was the largest single cost of a search (docs/check.md).
Equality was the next: every step makes new records equal to ones the search
already keeps, and a dataclass's ``__eq__`` builds a tuple of all the fields of
both sides to compare them.
"""

from __future__ import annotations

from dataclasses import fields
from operator import itemgetter


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
    # the fields' values, read from the object's dict: an item of a dict is a C lookup, an
    # attribute read from C (attrgetter) the interpreter's generic one, several times slower
    # (a new record's first hash reads all 21 fields)
    values = itemgetter(*names) if len(names) > 1 else (lambda d: (d[names[0]],))

    def __hash__(self) -> int:
        # get, not try/except KeyError: nearly every record a search makes is hashed once
        # new, and an exception costs more than the lookup
        d = self.__dict__
        h = d.get("_hash")
        if h is None:
            h = d["_hash"] = hash(values(d))
        return h

    def __eq__(self, other) -> bool:
        # the same fields, compared by the dicts that hold them (the cached hash too, once
        # both have it: equal objects have equal hashes, so unequal hashes settle it first)
        if self is other:
            return True
        if type(other) is not type(self):
            return NotImplemented
        a, b = self.__dict__, other.__dict__
        ha, hb = a.get("_hash"), b.get("_hash")
        if ha is None or hb is None:
            # one was never hashed: its dict has no "_hash" to compare (a search's cache
            # hashes both sides of every comparison it makes, so this is the rare case)
            return values(a) == values(b)
        return ha == hb and a == b

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    cls.__hash__ = __hash__
    cls.__eq__ = __eq__
    cls.__getstate__ = __getstate__
    return cls


def evolve(obj, **changes):
    """``dataclasses.replace`` for a frozen dataclass (a :func:`cached_hash` one or not),
    without re-running its ``__init__``.

    Why: a step builds a new thread record or GIL for every change, hundreds of
    thousands of times in a search, and ``replace`` re-runs ``__init__`` with
    every field looked up by name; this copies the fields as they are.  Building
    a program of atomic steps copies each one with its caller's frame added.
    """
    cls = type(obj)
    new = _new(cls)
    # a copy of the fields' dict given to the new object: copying a dict is a fraction of
    # updating an empty one from it
    d = obj.__dict__.copy()
    d.update(changes)
    d.pop("_hash", None)
    _set(new, "__dict__", d)
    n = _COUNTS.get(cls)
    if n is None:
        n = _COUNTS[cls] = len(_names(cls))
    if len(d) != n:
        unknown = changes.keys() - _names(cls)
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    return new


_set = object.__setattr__  # sets __dict__ whole on a frozen dataclass
_new = object.__new__  # a global: read as an attribute of object, a generic lookup each time
_NAMES: dict[type, frozenset[str]] = {}
_COUNTS: dict[type, int] = {}  # how many fields each class has (evolve's check, one lookup)


def _names(cls) -> frozenset[str]:
    got = _NAMES.get(cls)
    if got is None:
        got = _NAMES[cls] = frozenset(f.name for f in fields(cls))
    return got

