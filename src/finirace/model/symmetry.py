"""Symmetry: threads whose programs are alike up to a renaming of names.

A worker that runs ``ensure, signal b1, block, restore`` and one that runs
``ensure, signal b2, block, restore`` are alike: swap the two threads, and
``b1`` with ``b2``, and the scenario is the same.  Two states of the search that
differ only by such a swap reach the same outcomes up to the same swap, so the
explorer need only search one of them (Emerson and Sistla, *Symmetry and model
checking*, 1996; Ip and Dill, *Better verification through symmetry*, 1996).

What is interchangeable.  Threads other than ``main`` fall into *classes*: two
threads are in one class when their step lists have the same kinds and
modifiers, the same Python code, and arguments that correspond one to one (a
thread's own name to the other's, an event to an event, a lock to a lock).  The
alignment of a thread with its class's first thread is a renaming ``m_j``.

The canonical form of a state.  In each class the threads are sorted by their
records (status, step, phase, thread state, ...), which gives a permutation
``p`` of the threads (``p[i]``: the slot thread ``i``'s record goes to) and,
through the alignments, a renaming ``σ`` of thread, event and lock names
(``σ = m_{p[j]}⁻¹ ∘ m_j`` on thread ``j``'s names).  The key is the state with
the records permuted and every name renamed by ``σ``: the GIL's holder, the
mutex owners and names, the signalled events, a fault's thread outcomes, the
guard helper's finalizing thread.

Why this is sound.  Equal keys mean the two states are images of each other
under a renaming that maps every thread's *remaining* program onto the
program of the thread it is swapped with, and the machine's steps read nothing
but the state and the remaining program, naming threads, events and locks
only by name.  So the two have the same runs up to the renaming.  Three cases
would break that, and each gives up on the swap for that state (the key is
then the state's own, with no reduction):

* ``σ`` is not one consistent one-to-one renaming (two classes share events
  in a way the sort does not respect), or it would move a thread name that is
  not swapped;
* a thread outside every class (``main`` above all) still has steps that name
  something a swap can move: ``main`` spawns ``w1`` before ``w2`` and waits
  for ``b1`` before ``b2``, so before it is past those steps the workers are
  not yet interchangeable.  Its remaining steps, renamed by ``σ``, go into the
  key instead; two states share a key only if the renamed steps are the same.
  An event already signalled is written as such, not by name: events are never
  reset, so ``wait b1`` and ``wait b2`` act alike once both are signalled, and
  steps whose movable names are all signalled events are left out.  This holds
  for every state, also one no swap applies to: a state whose ``main`` still
  waits for ``b1`` unsignalled must not share a key with the image of one
  whose ``main`` waits for ``b1`` signalled, though neither key needs renaming.

The sort is a normal form, not a full canonical form: two symmetric states
whose records tie may get different keys (a missed reduction, never a wrong
one).  Heap blocks are not renamed: a block id is a position in allocation
order, and swapping threads does not change which block a record points to.
The explorer carries outcomes across a key hit renamed by ``p``
(:mod:`finirace.explore.symmetric`); outcome labels stay exact.
"""

from __future__ import annotations

from finirace.model.hashed import evolve
from finirace.model.world import World
from finirace.scenario.steps import STEP_KINDS, Arg

_SPACE = {Arg.THREAD: "thread", Arg.EVENT: "event", Arg.LOCK: "lock", Arg.OPTIONAL_UNTIL: "event"}

Name = tuple[str, str]  # (space, name): ("event", "b1")
_SIGNALLED = ("event", None)  # in a renamed remaining step: an event signalled already


def _names(steps) -> list[Name | None]:
    """The name each step's argument is, or None (no argument, code)."""
    out: list[Name | None] = []
    for s in steps:
        space = _SPACE.get(STEP_KINDS[s.kind].arg)
        out.append((space, s.arg) if space is not None and s.arg is not None else None)
    return out


def _align(thread, ref) -> dict[Name, Name] | None:
    """The renaming that makes ``thread``'s steps ``ref``'s, or None when there is none."""
    if len(thread.steps) != len(ref.steps):
        return None
    m: dict[Name, Name] = {("thread", thread.name): ("thread", ref.name)}
    for s, r, a, b in zip(thread.steps, ref.steps, _names(thread.steps), _names(ref.steps)):
        if s.kind != r.kind or s.noexcept != r.noexcept:
            return None
        if a is None or b is None:
            if a != b or s.arg != r.arg:  # no name, or Python code: must be the same text
                return None
            continue
        if m.setdefault(a, b) != b:
            return None
    if len(set(m.values())) != len(m):
        return None
    return m


class Symmetry:
    """The classes of alike threads of one scenario, and canonical keys of its states."""

    def __init__(self, scenario) -> None:
        self.names: tuple[str, ...] = scenario.thread_names
        self._steps = [t.steps for t in scenario.threads]
        refs: list[tuple[int, dict[int, dict[Name, Name]]]] = []  # (first thread, {member: m_j})
        for j, thread in enumerate(scenario.threads[1:], 1):
            for first, members in refs:
                m = _align(thread, scenario.threads[first])
                if m is not None:
                    members[j] = m
                    break
            else:
                members = {j: _align(thread, thread)}
                refs.append((j, members))
        self.classes: tuple[tuple[int, ...], ...] = tuple(tuple(ms) for _, ms in refs if len(ms) > 1)
        self._align: dict[int, dict[Name, Name]] = {j: m for _, ms in refs if len(ms) > 1 for j, m in ms.items()}
        self._inverse = {j: {b: a for a, b in m.items()} for j, m in self._align.items()}
        members = {j for c in self.classes for j in c}
        self._fixed = tuple(j for j in range(len(self.names)) if j not in members)
        # every name some swap may move: a name two alike threads hold in different places
        self._movable = frozenset(n for m in self._align.values() for a, b in m.items() if a != b for n in (a, b))
        # per fixed thread, its steps as (kind, name, argument), and per fixed thread and step
        # index, the names its remaining steps mention and those steps: made when a key first
        # needs them (_tail).  Not all at once: that is every suffix of every thread, quadratic
        # in its steps (2 000 sequential steps: a tenth of a second per era), where a search
        # asks for the positions it meets, and one with no alike threads for none
        self._named: dict[int, list[tuple]] = {}
        self._tail_at: dict[tuple[int, int], tuple[frozenset[Name], tuple]] = {}
        # the parts of keys by number, one number per value: a key is then a short tuple of
        # small ints, hashed and compared without a call into Python per record, and a cache
        # of 10^5-10^6 keys keeps each record, runtime, heap or event set once
        self._records: dict = {}  # a thread record -> its number
        self._order: list[tuple] = []  # the sort key of each record, by number
        self._parts: tuple[dict, ...] = tuple({} for _ in range(5))  # runtime, GIL, heap, events, helper
        self._values: tuple[list, ...] = tuple([] for _ in range(5))  # the same, by number
        # the same by object: a step makes a new world that shares every part it did not
        # change with the world before (model/program.py, Ctx.world), so most parts of a
        # world were numbered already, as objects; a lookup by id() costs no hash of the
        # value.  Each entry holds its object, so no id is reused while it is in the table;
        # the table is emptied when it grows past _SEEN (what is still in use comes back).
        self._seen: dict[int, tuple] = {}
        # the renamed parts by (the part's number, the permutation's number)
        self._renamed_parts: tuple[dict, ...] = tuple({} for _ in range(3))  # GIL, events, helper
        # the renamed remaining steps by (permutation, positions, events), as numbers: a key is
        # hashed at each lookup (a tuple keeps no hash), and the steps are a tuple of tuples
        self._tails: dict = {}
        self._tail_numbers: dict = {}
        self._raw: dict[tuple, tuple] = {}  # the numbers of a world's parts -> (key, permutation)
        self._sorted: dict[tuple, tuple] = {}  # the records' numbers -> Symmetry._sort's
        self._rest: dict[tuple, tuple] = {}  # Symmetry._rest_of's, by what decides them
        # per permutation: (its number, σ, thread, event and lock renamings), or None
        self._sigma: dict[tuple[int, ...], tuple | None] = {}
        self.identity = tuple(range(len(self.names)))

    @property
    def active(self) -> bool:
        return bool(self.classes)

    def canonical(self, world: World):
        """``(key, p)``: the state's key after sorting each class, and the permutation used."""
        seen = self._seen
        if len(seen) > _SEEN:
            seen.clear()
        get = seen.get
        d = world.__dict__
        nums = []
        for r in d["threads"]:
            got = get(id(r))
            nums.append(self._record(r) if got is None else got[1])
        rt, gil, heap, events, helper = d["runtime"], d["gil"], d["heap"], d["events"], d["helper"]
        a, b, c, e, h = get(id(rt)), get(id(gil)), get(id(heap)), get(id(events)), get(id(helper))
        parts = (self._part(0, rt) if a is None else a[1], self._part(1, gil) if b is None else b[1],
                 self._part(2, heap) if c is None else c[1], self._part(3, events) if e is None else e[1],
                 self._part(4, helper) if h is None else h[1])
        # the key is a function of the parts' numbers (and the locks and fault): a state met
        # again by another interleaving is one lookup (about half of them, depth first)
        if d["fault"] is not None:
            return self._slow(world, nums, parts)
        raw = (*nums, *parts, d["locks"])
        got = self._raw.get(raw)
        if got is not None:
            return got
        if len(self._raw) > _RAW:
            self._raw.clear()
        # what the sort and the renaming make of the records and of the other parts, kept by
        # their numbers: few distinct records and parts make many states (on four workers,
        # 67 records, 18 GILs and 16 event sets make half a million keys)
        nums = tuple(nums)
        got = self._sorted.get(nums)
        if got is None:
            got = self._sort(nums)
        perm, renaming, recs = got
        threads = d["threads"]
        rk = (0 if renaming is None else renaming[0], parts[1], parts[3], parts[4], d["locks"],
              *[threads[j].pc for j in self._fixed])
        rest = self._rest.get(rk)
        if rest is None:
            rest = self._rest_of(world, rk, renaming, parts)
        got = (*recs, parts[0], rest[0], parts[2], rest[1], rest[2], rest[3], None, rest[4]), perm
        self._raw[raw] = got
        return got

    def _sort(self, nums: tuple[int, ...]) -> tuple:
        """(the permutation, its renaming or None, the records in key order) for the records
        numbered ``nums`` (kept in ``_sorted``)."""
        perm = self._perm(nums)
        renaming = None if perm == self.identity else self._renaming_for(perm)
        if renaming is None:
            got = (self.identity, None, nums)
        else:
            moved = [0] * len(nums)
            for i, r in enumerate(nums):
                moved[perm[i]] = r
            got = (perm, renaming, tuple(moved))
        if len(self._sorted) > _RAW:
            self._sorted.clear()
        self._sorted[nums] = got
        return got

    def _rest_of(self, world: World, rk: tuple, renaming: tuple | None, parts: tuple[int, ...]) -> tuple:
        """The renamed GIL, event set, helper state, locks and remaining steps of a state
        without a fault, as :meth:`_key` makes them (kept in ``_rest`` by ``rk``: the
        permutation's number, the parts' numbers, the locks and the fixed threads' positions,
        all they are made of)."""
        if renaming is None:
            rest = (parts[1], parts[3], parts[4], tuple(world.locks), self._tails_of(world, 0, {}, parts[3]))
        else:
            pi, sigma, thread, event, lock = renaming
            tails = self._tails_of(world, pi, sigma, parts[3])
            rest = (self._renamed_part(0, parts[1], pi, thread, event),
                    self._renamed_part(1, parts[3], pi, thread, event),
                    self._renamed_part(2, parts[4], pi, thread, event),
                    tuple(sorted([(lock.get(lk, lk), thread.get(o, o)) for lk, o in world.locks]))
                    if world.locks else (),
                    tails)
        if len(self._rest) > _RAW:
            self._rest.clear()
        self._rest[rk] = rest
        return rest

    def _slow(self, world: World, nums: list[int], parts: tuple[int, ...]):
        """The key of a state that ended with a fault (its thread outcomes renamed too)."""
        perm = self._perm(nums)
        if perm != self.identity:
            renaming = self._renaming_for(perm)
            if renaming is not None:
                return self._renamed(world, nums, parts, perm, renaming), perm
        return self._key(world, nums, parts, None, self._tails_of(world, 0, {}, parts[3])), self.identity

    def _perm(self, nums) -> tuple[int, ...]:
        """Where each thread's record goes in the key: alike threads sorted by their records'
        sort keys, each class among its own slots."""
        p = list(self.identity)
        order = self._order
        for cls in self.classes:
            for slot, (_, j) in zip(cls, sorted([(order[nums[j]], j) for j in cls])):
                p[j] = slot
        return tuple(p)

    def _renaming_for(self, perm: tuple[int, ...]):
        """The permutation's renaming of threads, events and locks (kept in ``_sigma``)."""
        renaming = self._sigma.get(perm, False)
        if renaming is False:
            renaming = self._sigma[perm] = self._renaming(perm)
        return renaming

    def _record(self, r) -> int:
        """A thread record's number (kept by object too; its sort key in ``_order``)."""
        n = self._records.get(r)
        if n is None:
            n = self._records[r] = len(self._order)
            self._order.append(_sort_key(r))
        self._seen[id(r)] = (r, n)
        return n

    def _part(self, which: int, part) -> int:
        """The number of a part not met as an object yet (kept by object too)."""
        n = _number(self._parts[which], self._values[which], _VALUES[which](part))
        self._seen[id(part)] = (part, n)
        return n

    def _key(self, world: World, recs: list[int], parts: tuple[int, ...], renaming: tuple | None,
             tails: int) -> tuple:
        """The key: the parts of the state by number (records already in key order), renamed."""
        f = world.fault
        fault = (f.kind, tuple(t.outcome for t in f.threads)) if f is not None else None
        rt, gil, heap, events, helper = parts
        if renaming is None:
            locks = tuple(world.locks)
        else:
            pi, _, thread, event, lock = renaming
            gil = self._renamed_part(0, gil, pi, thread, event)
            events = self._renamed_part(1, events, pi, thread, event)
            helper = self._renamed_part(2, helper, pi, thread, event)
            locks = tuple(sorted([(lock.get(lk, lk), thread.get(o, o)) for lk, o in world.locks])) \
                if world.locks else ()
        return (*recs, rt, gil, heap, events, helper, locks, fault, tails)

    def _renamed_part(self, which: int, n: int, pi: int, thread: dict[str, str], event: dict[str, str]) -> int:
        """The number of a GIL (0), event set (1) or helper state (2), renamed by permutation ``pi``."""
        table = self._renamed_parts[which]
        got = table.get((n, pi))
        if got is None:
            numbers, values = self._parts[_RENAMED[which]], self._values[_RENAMED[which]]
            value = values[n]
            if which == 0:
                locked, holder, drop, created = value
                value = (locked, thread.get(holder, holder), drop, created)
            elif which == 1:
                value = frozenset([event.get(e, e) for e in value]) if event else value
            elif value.finalizer in thread:
                value = evolve(value, finalizer=thread[value.finalizer])
            got = table[(n, pi)] = _number(numbers, values, value)
        return got

    def _renamed(self, world: World, recs: list[int], parts: tuple[int, ...], p: tuple[int, ...],
                 renaming: tuple) -> tuple:
        moved = [0] * len(recs)
        for i, r in enumerate(recs):
            moved[p[i]] = r
        key = self._key(world, moved, parts, renaming, self._tails_of(world, renaming[0], renaming[1], parts[3]))
        if key[-2] is not None:  # a fault: its thread outcomes in slot order
            outs = [None] * len(recs)
            for i, o in enumerate(key[-2][1]):
                outs[p[i]] = o
            key = (*key[:-2], (key[-2][0], tuple(outs)), key[-1])
        return key

    def _tails_of(self, world: World, pi: int, sigma: dict[Name, Name], events_n: int) -> int:
        """The number of the remaining steps of the threads outside every class that name
        something a swap can move, renamed by ``σ`` (an event already signalled is written as
        such: a step naming it acts the same whatever its name).  Kept by the permutation's
        number, the event set's (``events_n``) and the threads' positions."""
        threads = world.threads
        k = (pi, events_n, *[threads[j].pc for j in self._fixed])
        got = self._tails.get(k)
        if got is None:
            events = world.events
            tails = []
            for j in self._fixed:
                names, steps = self._tail(j, max(threads[j].pc, 0))
                if any(n in self._movable and not (n[0] == "event" and n[1] in events) for n in names):
                    tails.append((j, tuple((kind, _SIGNALLED if n is not None and n[0] == "event" and n[1] in events
                                            else sigma.get(n, n) if n is not None else arg)
                                           for kind, n, arg in steps)))
            tails = tuple(tails)
            got = self._tails[k] = self._tail_numbers.setdefault(tails, len(self._tail_numbers))
        return got

    def _tail(self, j: int, start: int) -> tuple[frozenset[Name], tuple]:
        """The names thread ``j``'s steps from ``start`` on mention, and those steps (past its
        last step: its teardown's, none)."""
        got = self._tail_at.get((j, start))
        if got is None:
            named = self._named.get(j)
            if named is None:
                named = self._named[j] = [(st.kind, n, st.arg) for st, n in zip(self._steps[j], _names(self._steps[j]))]
            steps = named[start:]
            got = self._tail_at[(j, start)] = (frozenset(n for _, n, _ in steps if n is not None), tuple(steps))
        return got

    def _renaming(self, perm: tuple[int, ...]):
        """σ for a permutation of class members, with a number for the permutation (whole, then
        by threads, events and locks), or None when it is not one consistent renaming."""
        sigma: dict[Name, Name] = {}
        for j, m in self._align.items():
            back = self._inverse[perm[j]]
            for a, b in m.items():
                c = back[b]
                if sigma.setdefault(a, c) != c:
                    return None
        if len(set(sigma.values())) != len(sigma):
            return None
        index = {n: i for i, n in enumerate(self.names)}
        for (space, name), (_, to) in sigma.items():
            if space == "thread" and name in index and perm[index[name]] != index.get(to):
                return None  # a thread named in a program would be renamed other than swapped
        sigma = {a: b for a, b in sigma.items() if a != b}
        thread = {self.names[i]: self.names[perm[i]] for i in range(len(self.names))}
        event = {a[1]: b[1] for a, b in sigma.items() if a[0] == "event"}
        lock = {a[1]: b[1] for a, b in sigma.items() if a[0] == "lock"}
        return len(self._sigma) + 1, sigma, thread, event, lock  # 0 stands for the identity


def _number(numbers: dict, values: list, value) -> int:
    """The number of a value: the same for equal values, a new one for a new value
    (``values``: the values by number)."""
    n = numbers.get(value)
    if n is None:
        n = numbers[value] = len(values)
        values.append(value)
    return n


def _same(value):
    return value


def _gil(g) -> tuple:
    return (g.locked, g.holder, g.drop_request, g.created)


def _liveness(heap) -> tuple:
    return tuple([b.freed_by is None for b in heap])


# what of each part a key holds: runtime, GIL (not its switch counter), heap (liveness), events, helper
_VALUES = (_same, _gil, _liveness, _same, _same)
_RENAMED = (1, 3, 4)  # the parts a renaming changes: GIL, events, helper
# objects numbered by identity before the table is emptied: a step shares parts with the world
# before it, so the parts of the last few hundred worlds are what a lookup meets (larger tables
# measured no fewer instructions, and held more memory)
_SEEN = 1 << 12
# (key, permutation) pairs kept by the numbers of a world's parts before the table is emptied:
# a search meets a state again mostly soon after (the other order of two steps), and larger
# tables caught few more (seed-shaped, three workers: 54 % of the calls with 2^14, 57 % with 2^16)
_RAW = 1 << 14


def _sort_key(rec) -> tuple:
    """A total order on thread records (None below every number)."""
    return (rec.status, rec.pc, rec.phase, _n(rec.tstate), rec.counter, rec.ensured_unlocked, _n(rec.wrapper),
            rec.guards, _n(rec.scratch), rec.python)


def _n(v) -> int:
    return -1 if v is None else v
