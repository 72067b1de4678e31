"""What a scenario step may read and write, known before any of its atomic steps runs.

Why: persistent sets (:mod:`finirace.model.locality`) take a thread's next step
alone when no other thread can touch what it touches while this one stands
still.  A step's :class:`~finirace.model.system.Transition` says what it
touched once it ran; for the *other* threads' steps, which have not run yet,
the search needs a bound on what they may touch: their footprints, declared
here per scenario step kind (the union over every atomic step of its program,
every path through it and every era).  With them, a C-API step whose objects
no other thread can reach (a worker's ``PyGILState_Ensure`` or
``take_gil`` finalization check while ``main`` cannot finalize yet) is local
too, where only the steps that name events and locks were before.

Names in a declaration stand for objects of the thread that takes the step:

* ``heap:self``: the block of its own ``PyThreadState`` at that step (its
  ``tstate``).  Blocks are never reused and a thread's ``tstate`` only ever
  becomes ``None`` or a block made in that step, except where the kind
  declares ``tstate:self`` (it points the thread back at a state it made
  before: ``Py_EndInterpreter``'s outer state); there ``heap:self`` is any block;
* ``thread:self``, ``wrapper:self``, ``sub:self``: its own record's parts;
* ``event:arg``, ``lock:arg``, ``thread:arg``, ``sub:arg``: the scenario
  step's argument;
* ``heap:*``, ``thread:*``, ``wrapper:*``: any of those; ``*``: anything;
* ``gil.created?``: ``gil.created``, but only while no GIL is made (3.6's
  ``PyEval_InitThreads`` makes it; no declared kind unmakes it, only
  ``Py_Initialize`` and ``Py_FinalizeEx``, which may touch anything).  So once the
  GIL exists, a worker's ``ensure`` ahead no longer writes it, and another's test
  of ``gil_created()`` is local.

A kind not declared may touch anything.  ``"process"`` is left out: every step
reads it and only an ending writes it, which locality handles apart.  The
bound is checked, not trusted: on every reachable state of the catalog and of
seed-shaped scenarios of two to four workers under every era, what each step
declared it touched, and every part of the world it changed, is within its
kind's footprint (``tests/model/test_footprint.py``).
"""

from __future__ import annotations

WILD = "*"
GIL_MADE = "gil.created?"  # see the module docstring
TSTATE_SELF = "tstate:self"  # see the module docstring: heap:self then stands for any block
_ANY = frozenset({WILD})


def _fp(reads: str = "", writes: str = "") -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(reads.split()), frozenset(writes.split())


_TAKE_GIL = "gil gil.created runtime heap:self wrapper:self"  # PyEval_RestoreThread → take_gil
# per scenario step kind (None: a threading thread's bootstrap, "": its teardown): (reads, writes),
# each the union over the kind's atomic steps (model/programs.py OPERATIONS builds them)
DECLARED: dict[str | None, tuple[frozenset[str], frozenset[str]]] = {
    # thread_run → PyEval_AcquireThread → take_gil (model/threads.py bootstrap)
    None: _fp("runtime gil heap:self", "gil heap:self thread:self"),
    # thread_run's end: PyThreadState_Clear, _PyThreadState_DeleteCurrent (threads.teardown)
    "": _fp("gil heap:self interp", "gil heap:self interp thread:self wrapper:self"),
    # PyGILState_Ensure: new_threadstate (reads the interpreter's block), PyEval_RestoreThread,
    # take_gil; 3.6's PyEval_InitThreads reads the current holder's state (model/pystate.py)
    "ensure": _fp(_TAKE_GIL + " heap:* interp",
                  "gil gil.created? heap interp heap:self wrapper:self thread:self"),
    "restore": _fp(_TAKE_GIL, "gil heap:self thread:self"),
    "save": _fp("gil heap:self", "gil"),  # PyEval_SaveThread → drop_gil
    "release": _fp("gil heap:self interp wrapper:self", "gil heap:self interp thread:self wrapper:self"),
    "spawn": _fp("", "thread:arg"),  # pthread_create: the child may run
    "join": _fp("thread:arg", "thread:self"),
    "lock": _fp("lock:arg", "lock:arg thread:self"),
    "unlock": _fp("lock:arg", "lock:arg"),
    "signal": _fp("", "event:arg thread:self"),
    "wait": _fp("event:arg"),
    "block": _fp("event:arg"),
}


def declared(kind: str | None) -> tuple[frozenset[str], frozenset[str]]:
    """A kind's (reads, writes), placeholders unbound; anything where it is not declared."""
    return DECLARED.get(kind, (_ANY, _ANY))


def bind(names: frozenset[str], thread: str, arg: str | None, made: bool = False) \
        -> tuple[frozenset[str], bool]:
    """A declaration's names for one thread's step: placeholders but ``heap:self`` bound
    (``made``: the GIL exists, so ``gil.created?`` is left out); and whether ``heap:self``
    was among them (bound per state, by :func:`own_heap`)."""
    out = set()
    own = False
    for n in names:
        if n == GIL_MADE:
            if not made:
                out.add("gil.created")
        elif n == "heap:self":
            own = True
        elif n.endswith(":self"):
            out.add(n[:-4] + thread)
        elif n.endswith(":arg"):
            out.add(n[:-3] + str(arg))
        else:
            out.add(n)
    return frozenset(out), own


def own_heap(tstate: int | None, repointed: bool) -> str | None:
    """What ``heap:self`` stands for in a thread's steps from a state where it holds
    ``tstate``: that block (the later ones it makes are new, so no step from that state
    touches them), any block once a step of its points it back at an older one."""
    if repointed:
        return "heap:*"
    return None if tstate is None else f"heap:{tstate}"


_FAMILY: dict[str, str] = {}


def family(obj: str) -> str:
    """The wildcard that covers an object: ``heap:3`` → ``heap:*``; itself when it has none."""
    got = _FAMILY.get(obj)
    if got is None:
        i = obj.find(":")
        got = _FAMILY[obj] = obj[:i] + ":*" if i > 0 else obj
    return got


def covered(obj: str, names) -> bool:
    """Whether ``names`` (bound) include the object ``obj``."""
    return obj in names or family(obj) in names or WILD in names


def meets(objs, names) -> bool:
    """Whether any of ``objs`` (a step's, concrete) is among ``names`` (bound, wildcards)."""
    if WILD in names:
        return bool(objs)
    for o in objs:
        if o in names or family(o) in names:
            return True
    return False
