"""Small transition systems for testing the explorer without the CPython model.

Each follows the System contract of finirace.model.system: immutable hashable
states, pure steps, declared reads and writes.
"""

from __future__ import annotations

from itertools import permutations

from finirace.model.system import Transition
from finirace.outcome import RunKind, RunOutcome, ThreadOutcome, ThreadResult


def _finished(threads):
    return tuple(ThreadResult(t, ThreadOutcome.FINISHED) for t in threads)


class Counter:
    """N threads each do ``tmp = x; x = tmp + 1``: a lost update ends in a "crash"."""

    def __init__(self, n: int = 2) -> None:
        self.threads = ("main",) + tuple(f"t{i}" for i in range(1, n))

    def initial(self):
        return (0,) * len(self.threads), (0,) * len(self.threads), 0  # pcs, tmps, x

    def enabled(self, state):
        pcs, _, _ = state
        return tuple(t for t, pc in zip(self.threads, pcs) if pc < 2)

    def step(self, state, thread):
        pcs, tmps, x = state
        i = self.threads.index(thread)
        pcs2 = pcs[:i] + (pcs[i] + 1,) + pcs[i + 1 :]
        if pcs[i] == 0:
            tmps2 = tmps[:i] + (x,) + tmps[i + 1 :]
            return (pcs2, tmps2, x), Transition(thread, "load", None, f"reads x={x}", reads=frozenset({"x"}))
        return (pcs2, tmps, tmps[i] + 1), Transition(thread, "store", None, f"x = {tmps[i] + 1}", writes=frozenset({"x"}))

    def blocked_on(self, state, thread):
        return None  # nobody waits: a thread not enabled has ended

    def outcome(self, state):
        pcs, _, x = state
        if any(pc < 2 for pc in pcs):
            return None
        if x == len(self.threads):
            return RunOutcome(RunKind.CLEAN, _finished(self.threads))
        return RunOutcome(RunKind.CRASH, _finished(self.threads), reason=f"lost update: x={x}")


class LockOrder:
    """main locks A then B, t1 locks B then A: the classic deadlock."""

    threads = ("main", "t1")
    _plan = {"main": ("A", "B"), "t1": ("B", "A")}

    def initial(self):
        return (0, 0), (None, None)  # pcs; owner of A, owner of B

    def _op(self, state, thread):
        pcs, _ = state
        i = self.threads.index(thread)
        first, second = self._plan[thread]
        return i, [("lock", first), ("lock", second), ("unlock", second), ("unlock", first)][pcs[i]] if pcs[i] < 4 else None

    def enabled(self, state):
        pcs, owners = state
        out = []
        for t in self.threads:
            i, op = self._op(state, t)
            if op is None:
                continue
            if op[0] == "lock" and owners["AB".index(op[1])] is not None:
                continue
            out.append(t)
        return tuple(out)

    def step(self, state, thread):
        pcs, owners = state
        i, (kind, lock) = self._op(state, thread)
        j = "AB".index(lock)
        owners2 = list(owners)
        owners2[j] = thread if kind == "lock" else None
        pcs2 = list(pcs)
        pcs2[i] += 1
        tr = Transition(thread, f"pthread_mutex_{kind}", None, f"{kind} {lock}", reads=frozenset({lock}), writes=frozenset({lock}))
        return (tuple(pcs2), tuple(owners2)), tr

    def blocked_on(self, state, thread):
        _, op = self._op(state, thread)
        return None if op is None else frozenset({op[1]})

    def outcome(self, state):
        pcs, _ = state
        if all(pc == 4 for pc in pcs):
            return RunOutcome(RunKind.CLEAN, _finished(self.threads))
        if self.enabled(state):
            return None
        return RunOutcome(
            RunKind.TIMEOUT,
            tuple(ThreadResult(t, ThreadOutcome.FINISHED if pc == 4 else ThreadOutcome.DEADLOCKED) for t, pc in zip(self.threads, pcs)),
        )


class TwoPreemptions:
    """main and t1 take two steps each; only the alternations ABAB/BABA are bad.

    Reaching the bad outcome needs exactly two preemptions, and no run with fewer.
    """

    threads = ("main", "t1")

    def initial(self):
        return ""

    def enabled(self, state):
        return tuple(t for t, c in zip(self.threads, "ab") if state.count(c) < 2)

    def step(self, state, thread):
        c = "ab"[self.threads.index(thread)]
        return state + c, Transition(thread, "append", None, f"log += {c}", reads=frozenset({"log"}), writes=frozenset({"log"}))

    def blocked_on(self, state, thread):
        return None

    def outcome(self, state):
        if len(state) < 4:
            return None
        if state in ("abab", "baba"):
            return RunOutcome(RunKind.CRASH, _finished(self.threads), reason=state)
        return RunOutcome(RunKind.CLEAN, _finished(self.threads))


class Independent:
    """N threads each counting privately to K: everything commutes."""

    def __init__(self, n: int = 3, k: int = 3) -> None:
        self.threads = ("main",) + tuple(f"t{i}" for i in range(1, n))
        self.k = k

    def initial(self):
        return (0,) * len(self.threads)

    def enabled(self, state):
        return tuple(t for t, pc in zip(self.threads, state) if pc < self.k)

    def step(self, state, thread):
        i = self.threads.index(thread)
        v = f"v:{thread}"
        return state[:i] + (state[i] + 1,) + state[i + 1 :], Transition(thread, "inc", None, "", frozenset({v}), frozenset({v}))

    def blocked_on(self, state, thread):
        return None

    def outcome(self, state):
        if all(pc == self.k for pc in state):
            return RunOutcome(RunKind.CLEAN, _finished(self.threads))
        return None


KINDS = (RunKind.CLEAN, RunKind.CRASH, RunKind.ABORT, RunKind.MEMORY_ERROR, RunKind.TIMEOUT)
THREAD_OUTCOMES = (ThreadOutcome.FINISHED, ThreadOutcome.HUNG, ThreadOutcome.EXITED)


class Program:
    """A random little program: threads of ops on a few shared variables.

    Ops: ``("set", var, value)``, ``("add", var, src)`` (var += src, mod 3),
    ``("wait", var, value)`` (enabled only while var == value).  The label of
    a final valuation is a fixed function of it, so different valuations give
    (often) different outcome labels.  A state where no thread is enabled but
    some are not done is a timeout with those threads deadlocked.
    """

    def __init__(self, code: tuple[tuple[tuple[str, str, object], ...], ...]) -> None:
        self.code = code
        self.threads = ("main",) + tuple(f"t{i}" for i in range(1, len(code)))
        self.vars = sorted({op[1] for ops in code for op in ops} | {op[2] for ops in code for op in ops if op[0] == "add"})

    def initial(self):
        return (0,) * len(self.code), tuple(0 for _ in self.vars)

    def _val(self, vals, var):
        return vals[self.vars.index(var)]

    def _runnable(self, state, i):
        pcs, vals = state
        if pcs[i] >= len(self.code[i]):
            return False
        op = self.code[i][pcs[i]]
        return op[0] != "wait" or self._val(vals, op[1]) == op[2]

    def enabled(self, state):
        return tuple(t for i, t in enumerate(self.threads) if self._runnable(state, i))

    def step(self, state, thread):
        pcs, vals = state
        i = self.threads.index(thread)
        kind, var, arg = self.code[i][pcs[i]]
        vals2 = list(vals)
        j = self.vars.index(var)
        if kind == "set":
            vals2[j] = arg
            reads, writes = frozenset(), frozenset({var})
        elif kind == "add":
            vals2[j] = (vals[j] + self._val(vals, arg)) % 3
            reads, writes = frozenset({arg, var}), frozenset({var})
        else:
            reads, writes = frozenset({var}), frozenset()
        pcs2 = pcs[:i] + (pcs[i] + 1,) + pcs[i + 1 :]
        return (pcs2, tuple(vals2)), Transition(thread, kind, None, f"{kind} {var} {arg}", reads, writes)

    def blocked_on(self, state, thread):
        """A thread waits only in ``wait``, on the variable it reads."""
        pcs, _ = state
        i = self.threads.index(thread)
        return None if pcs[i] >= len(self.code[i]) else frozenset({self.code[i][pcs[i]][1]})

    def outcome(self, state):
        pcs, vals = state
        if self.enabled(state):
            return None
        stuck = [pc < len(ops) for pc, ops in zip(pcs, self.code)]
        if any(stuck):
            return RunOutcome(
                RunKind.TIMEOUT,
                tuple(ThreadResult(t, ThreadOutcome.DEADLOCKED if s else ThreadOutcome.FINISHED) for t, s in zip(self.threads, stuck)),
            )
        h = sum(v * 3**k for k, v in enumerate(vals))
        kind = KINDS[h % 4]
        return RunOutcome(kind, tuple(ThreadResult(t, THREAD_OUTCOMES[(h // 4 + n) % 3]) for n, t in enumerate(self.threads)))


def brute_force(system):
    """Every run by plain recursion, no caching: {label: min (preemptions, steps)}."""
    best: dict[str, tuple[int, int]] = {}

    def walk(state, previous, pre, steps):
        out = system.outcome(state)
        if out is not None:
            cost = (pre, steps)
            if out.label not in best or cost < best[out.label]:
                best[out.label] = cost
            return
        enabled = system.enabled(state)
        for t in enabled:
            nxt, _ = system.step(state, t)
            walk(nxt, t, pre + (previous is not None and previous != t and previous in enabled), steps + 1)

    walk(system.initial(), None, 0, 0)
    return best
