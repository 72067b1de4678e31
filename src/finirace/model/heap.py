"""The model heap: blocks that remember who allocated and who freed them.

Why a heap at all: the races finirace models end in use-after-free, and a
use-after-free is only worth reporting with both histories, as valgrind gives
them ("free'd at ... / Block was alloc'd at ...").  So every block records the
:class:`~finirace.outcome.Access` (thread, scenario step, chain of modelled C
functions) that allocated it and the one that freed it.

Blocks are never reused: a freed block stays in the tuple, dead, so a later
read of it is caught (a real allocator may hand the memory out again, which is
what makes these bugs intermittent; the model reports the first bad access).
Block ids are positions in the tuple, so the heap is a plain hashable value.
"""

from __future__ import annotations

from dataclasses import dataclass

from finirace.model.hashed import cached_hash, evolve
from finirace.outcome import Access


@cached_hash
@dataclass(frozen=True)
class Block:
    """One allocation: what it holds, and its history."""

    name: str  # "PyThreadState of worker", "PyInterpreterState"
    allocated_by: Access
    freed_by: Access | None = None

    @property
    def alive(self) -> bool:
        return self.freed_by is None


Heap = tuple[Block, ...]


def alloc(heap: Heap, name: str, by: Access) -> tuple[Heap, int]:
    """A new live block; its id is its position."""
    return heap + (Block(name, by),), len(heap)


def free(heap: Heap, block: int, by: Access) -> Heap:
    """The heap with ``block`` freed (the caller checks it was alive)."""
    return heap[:block] + (evolve(heap[block], freed_by=by),) + heap[block + 1 :]
