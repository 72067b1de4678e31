"""Many independent searches (scenario × variant verdicts) on several processes.

Why processes: a search is pure Python and holds the GIL for its whole run, so
only processes make two searches go at once; a four-worker scenario under
every era is ten searches of up to twenty seconds each.  Why fork: a variant
file's variant holds functions from a module that was loaded from a path, which
no other process could import by name; a forked child has it already, and gets
its work as an index into what the parent built.  Where fork is missing, where
this process runs other threads (a fork copies a lock another thread may hold,
and the child would wait on it for ever: an embedding program's, not the
command line's), or there is one search, they run here, one after the other.

A child ignores SIGINT: Ctrl-C reaches the whole process group, and the parent
alone decides (it stops the pool, which ends every child); a child dies with
the parent (``PR_SET_PDEATHSIG``); a child's exception (a variant file's code
that raised) is raised again in the parent.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from typing import Callable, Sequence, TypeVar

from finirace.proc.containment import die_with_parent

T = TypeVar("T")
R = TypeVar("R")

# what a forked child runs: (the cells, the function of one), set in the parent just before
# the pool forks, read by the children through their copy of this module
_WORK: tuple[Sequence, Callable] | None = None


def cores() -> int:
    """The processors this process may run on (a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def at_once(jobs: int, cells: int) -> int:
    """How many of ``cells`` searches :func:`run_all` runs at once when asked for ``jobs``: 1
    where they run here.  Asked once, so that what the caller says and shares (--pct --time)
    is what runs."""
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return 1
    return max(1, min(jobs, cells))


def run_all(cells: Sequence[T], one: Callable[[T], R], jobs: int,
            done: Callable[[int, int], None] | None = None) -> list[R]:
    """``one(cell)`` for every cell, in ``cells`` order, ``jobs`` at once (see :func:`at_once`);
    ``done(finished, total)`` after each one ends."""
    global _WORK
    jobs = at_once(jobs, len(cells))
    if jobs <= 1:
        out = []
        for cell in cells:
            out.append(one(cell))
            if done is not None:
                done(len(out), len(cells))
        return out
    results: list = [None] * len(cells)
    _WORK = (cells, one)
    try:
        with multiprocessing.get_context("fork").Pool(jobs, initializer=_child, initargs=(os.getpid(),)) as pool:
            # one cell a task, whichever child is free takes the next: the cells' sizes differ by
            # thousands of times (a four-worker search beside a two-step one)
            for n, (i, got) in enumerate(pool.imap_unordered(_one, range(len(cells)), chunksize=1), 1):
                results[i] = got
                if done is not None:
                    done(n, len(cells))
    finally:
        _WORK = None  # leaving the with block terminated the children, whatever happened
    return results


def _child(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a parent killed outright (a CI job's timeout) cannot stop the pool: its children would
    # search on to the end of their cell, then fail to send it back
    hook = die_with_parent(parent)
    if hook is not None:
        hook()


def _one(i: int):
    cells, one = _WORK
    return i, one(cells[i])
