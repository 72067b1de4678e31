"""Every thread's next step from a world, carried over from the world before it.

A search asks, at each state, for the threads' next atomic steps (the
machine keeps those of the last state asked about, :class:`Machine`'s memo).
The state was made by one thread's step ``u`` from a state ``s`` whose steps
were asked for already; another thread's step ``t`` from ``s`` that is
independent of ``u`` (neither writes what the other reads or writes, by the
objects each declares: :class:`~finirace.model.system.Transition`) does from
``u``'s state exactly what it did from ``s``: the same transition, the same
parts of the world changed to the same values.  So it is not run again: its
result is ``u``'s state with the parts ``t`` changed replaced by ``t``'s.
On the seed-shaped scenario with three workers under ``exit``, the
persistent-set search carries 28 687 of the 68 048 steps it asks for, and
takes 15 % fewer instructions.

Why it is sound: the model's steps declare every shared object they read or
write (the :mod:`~finirace.model.system` contract, which sleep sets and DPOR
rely on too), what it reads of another thread's record included (by the
thread, or by the object the field stands for); its own record it reads
without saying.  A
step always changes its own record, so a ``u`` that changed ``t``'s thread's
record shows as both steps changing one record, and is run again.  Parts of
the world are immutable values shared between a world and the next (a step
copies only what it changes, :meth:`~finirace.model.program.Ctx.world`), so
what a step changed is found by identity; where both steps changed one part
(one thread record, one heap block, the same runtime...), ``t`` is run again
too.  A test compares carried steps with steps run afresh on the reachable
states of the catalog under every era (``tests/model/test_successors.py``).
A variant file's patched C functions may not declare what they touch: under
such a variant every step is run.

Which world came from which is kept by the object's identity, with the object
itself (so no identity is reused while it is kept), for the worlds made since
the table was last emptied: a search asks about a state soon after making it,
or never (a state met before is not expanded).
"""

from __future__ import annotations

from finirace.model.world import World

_set = object.__setattr__  # sets __dict__ whole on a frozen dataclass (hashed.evolve)
_new = object.__new__  # a global (program._new)

# worlds made whose steps may still be asked for, before the table is emptied; a
# depth-first search keeps about (depth x threads) of them in use
_KEPT = 1024
_PARTS = ("runtime", "gil", "heap", "events", "locks", "fault", "helper")


class Successors:
    """The machine's table of where each world it made came from, and the steps carried
    over from there.  ``unknown`` is the machine's mark for a step not computed yet."""

    def __init__(self, unknown: object) -> None:
        self.unknown = unknown
        # id(world made) -> (that world, the world before, the mover, the steps from before:
        # the machine's memo of that world, filled as the search asked for them)
        self._made: dict[int, tuple] = {}
        self.carried = 0  # steps carried over rather than run (for tests and benchmarks)

    def made(self, new: World, before: World, mover: int, steps: list) -> None:
        """Thread ``mover``'s step from ``before`` made ``new`` (``steps``: every step from
        ``before`` known so far)."""
        if new.fault is not None:
            return  # a run that ended: nobody asks for its steps
        made = self._made
        if len(made) > _KEPT:
            made.clear()
        made[id(new)] = (new, before, mover, steps)

    def clear(self) -> None:
        """Forget every world made (the search is over: Machine.release)."""
        self._made.clear()

    def origin(self, world: World) -> tuple | None:
        """Where ``world`` came from, if it is in the table (taken out: a search asks for a
        state's steps once, while it is the machine's memo)."""
        return self._made.pop(id(world), None)

    def carry(self, origin: tuple, world: World, ti: int):
        """Thread ``ti``'s step from ``world``, carried over from the world before; ``unknown``
        where it must be run."""
        _, before, mover, steps = origin
        got = steps[ti]
        if ti == mover or got is None or got is self.unknown:
            return self.unknown
        a, b = got[1], steps[mover][1]
        # Transition.conflicts, inlined (two threads: only the reads and writes decide), without
        # making the sets it intersects
        if not (a.writes.isdisjoint(b.reads) and a.writes.isdisjoint(b.writes) and b.writes.isdisjoint(a.reads)):
            return self.unknown
        merged = _merge(before, got[0], world)
        if merged is None:
            return self.unknown
        self.carried += 1
        return merged, got[1]


def _merge(before: World, theirs: World, ours: World) -> World | None:
    """``ours`` with the parts ``theirs`` changed from ``before`` taken from ``theirs``;
    None where both changed one part."""
    d = ours.__dict__.copy()
    d.pop("_hash", None)
    b, t = before.__dict__, theirs.__dict__
    for name in _PARTS:
        old, new = b[name], t[name]
        if new is not old:
            if d[name] is not old:
                if name != "heap":
                    return None
                new = _merge_tuple(old, new, d[name])
                if new is None:
                    return None
            d[name] = new
    old, new = before.threads, theirs.threads
    if new is not old:
        threads = _merge_tuple(old, new, ours.threads)
        if threads is None:
            return None
        d["threads"] = threads
    merged = _new(World)
    _set(merged, "__dict__", d)
    return merged


def _merge_tuple(old: tuple, theirs: tuple, ours: tuple) -> tuple | None:
    """Element by element (thread records, heap blocks), as :func:`_merge`; None where both
    changed one element or a length."""
    if len(theirs) != len(old) or len(ours) != len(old):
        return None
    out = []
    for o, t, u in zip(old, theirs, ours):
        if t is o:
            out.append(u)
        elif u is o:
            out.append(t)
        else:
            return None
    return tuple(out)
