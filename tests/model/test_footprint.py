"""The declared footprints (model/footprint.py) bound what each step touches.

Persistent sets take a C-API step alone when no other thread's declared
footprint meets it (model/locality.py), so a footprint that left out one
object a step touches would lose outcomes.  Checked here on every reachable
state of the catalog and of seed-shaped scenarios under every era: for each
step, what its transition says it read and wrote, and every part of the world
it changed, lies within its kind's footprint, bound to the thread, the step's
argument and the thread's state; and what ``heap:self`` relies on: a thread's
``tstate`` only becomes ``None`` or a block made in that step, unless its kind
declares ``tstate:self``; and what ``gil.created?`` relies on: no step of a
declared kind unmakes the GIL, and one makes it only where it declares so; and
that only the steps that start a thread (``spawn`` and the like) start one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from finirace.model import VARIANTS, build_system, footprint
from finirace.model.locality import STARTS
from finirace.model.world import NEW
from finirace.scenario import catalog, loads
from tests.model.walk import steps

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "check_catalog"))
from run import seed_shaped_text  # noqa: E402

CATALOG = catalog.load_bundled()
_PARTS = {"gil": ("gil", "gil.created"), "helper": ("helper",)}
# fields of PyThreadState blocks the model keeps in the runtime (3.14+, model/refcount.py): the
# block's own memory, as the steps that touch them declare it
_BLOCK_FIELDS = ("shutting_down", "refcount_one")


def _kind(system, ti: int, pc: int) -> str | None:
    steps = system._steps[ti]
    return steps[pc].kind if 0 <= pc < len(steps) else (None if pc < 0 else "")


def _bound(names, thread: str, step, tstate, repoint: bool, made: bool) -> set[str]:
    got, own = footprint.bind(names, thread, step.arg if step is not None else None, made)
    out = set(got)
    if own:
        out.add(footprint.own_heap(tstate, repoint) or "heap:none")
    return out


def _changed(before, after, ti: int, names: tuple[str, ...]) -> set[str]:
    """The objects whose part of the world the step changed, one of each family that fits."""
    out: set[tuple[str, ...]] = set()
    for part, objs in _PARTS.items():
        if getattr(before, part) != getattr(after, part):
            out.add(objs)
    for field, value in before.runtime.__dict__.items():
        if field.startswith("_") or value == getattr(after.runtime, field):
            continue
        if field in _BLOCK_FIELDS:
            out.update((f"heap:{b}",) for b in set(value) ^ set(getattr(after.runtime, field)))
        else:
            out.add(("runtime", "interp"))
    if len(after.heap) != len(before.heap):
        out.add(("heap",))
    for i, (b, a) in enumerate(zip(before.heap, after.heap)):
        if a != b:
            out.add((f"heap:{i}",))
    for e in after.events ^ before.events:
        out.add((f"event:{e}",))
    for lock in set(after.locks) ^ set(before.locks):
        out.add((f"lock:{lock[0]}",))
    for j, (b, a) in enumerate(zip(before.threads, after.threads)):
        if j != ti and a != b:
            out.add((f"thread:{names[j]}", f"wrapper:{names[j]}"))
    return out


def _check(system) -> int:
    names = system.threads
    checked = 0
    for s, t, nxt, tr in steps(system):
        ti = names.index(t)
        rec = s.threads[ti]
        kind = _kind(system, ti, rec.pc)
        reads, writes = footprint.declared(kind)
        if footprint.WILD in writes:
            continue
        step = system.current(s, ti)[1]
        repoint = footprint.TSTATE_SELF in writes
        made = s.gil.created
        r = _bound(reads | writes, t, step, rec.tstate, repoint, made)
        w = _bound(writes, t, step, rec.tstate, repoint, made)
        where = (t, kind, tr.label, system.variant.name)
        for o in tr.reads - {"process"}:
            assert footprint.covered(o, r), ("reads", o, where)
        for o in tr.writes - {"process"}:
            assert footprint.covered(o, w), ("writes", o, where)
        for objs in _changed(s, nxt, ti, names):
            assert any(footprint.covered(o, w) for o in objs), ("changes", objs, where)
        for j, (b, a) in enumerate(zip(s.threads, nxt.threads)):
            if a.tstate != b.tstate and a.tstate is not None and a.tstate < len(s.heap):
                assert j == ti and repoint, ("tstate", names[j], where)
        for j, (b, a) in enumerate(zip(s.threads, nxt.threads)):
            if j != ti and b.status == NEW and a.status != NEW:  # what locality's _may_start relies on
                assert kind in STARTS and step.arg == names[j], ("starts", names[j], where)
        # gil.created?: no declared kind unmakes the GIL
        assert not made or nxt.gil.created, ("unmakes the GIL", where)
        checked += 1
    return checked


@pytest.mark.parametrize("sc", CATALOG, ids=lambda s: s.name)
def test_every_catalog_step_is_within_its_footprint(sc):
    for variant in VARIANTS:
        _check(build_system(sc, variant))


# three workers under four eras that change the most steps: the GIL made on first use (3.6),
# exiting threads (3.9), detached finalization (3.12), guards and parked threads (3.15); two
# workers and the catalog under every era (each three-worker walk is some 10 s of the suite)
THREE_WORKER_ERAS = ("legacy36", "exit", "exit312", "guards")


@pytest.mark.parametrize("workers, variant", [(2, v) for v in VARIANTS] + [(3, v) for v in THREE_WORKER_ERAS])
def test_every_seed_shaped_step_is_within_its_footprint(workers, variant):
    assert _check(build_system(loads(seed_shaped_text(workers)), variant)) > 0


def test_a_step_outside_its_footprint_is_caught(monkeypatch):
    # the check can fail: ensure with a footprint that leaves out the GIL
    reads, writes = footprint.DECLARED["ensure"]
    monkeypatch.setitem(footprint.DECLARED, "ensure", (reads - {"gil"}, writes - {"gil"}))
    with pytest.raises(AssertionError):
        _check(build_system(loads(seed_shaped_text(2)), "exit"))
