"""Threads and the program around the C-API calls: spawn, join, mutexes,
orderings, blocking calls, Python code, threading's threads, PEP 788 guards.

These are the steps that are not CPython's thread-state machinery but decide
who waits on whom: a join of a thread parked for ever never returns, a mutex
held by an exited thread is never unlocked.  Each is one atomic step.

``start_thread`` is ``threading.Thread.start()`` (``Lib/threading.py``): it
calls ``_thread.start_new_thread`` (3.13+: ``_start_joinable_thread``), which is
``thread_PyThread_start_new_thread`` (3.13+: ``ThreadHandle_start``,
``Modules/_threadmodule.c``): the caller, holding the GIL, makes the new
thread's state and starts it.  Then ``start()`` waits for the child:
``self._started.wait()`` blocks on a lock (``acquire_timed``; 3.13+
``PyThread_acquire_lock_timed_with_retries``), which releases the GIL around the
blocking acquire (``Py_BEGIN_ALLOW_THREADS``) and takes it back after
(``Py_END_ALLOW_THREADS``: ``PyEval_RestoreThread``, finalization checks
included).  The child's ``t_bootstrap`` (3.12+ ``thread_run``) takes the GIL
(``PyEval_AcquireThread``), runs ``Thread._bootstrap_inner``, whose
``self._started.set()`` lets the starter go, then its steps; at the end it
clears and deletes its state (``_PyThreadState_DeleteCurrent``).  So the
starter gives the GIL away while it waits, and finalization may run then; a
child that meets finalization in its bootstrap never sets ``_started``, and its
starter waits for ever.  From 3.12 on a thread may not be started once the
interpreter is finalizing (gh-104690): the start fails with ``RuntimeError``
(3.13: ``PythonFinalizationError``), nothing waits, and the new thread never
runs.  Threads started this way are daemon threads: the model has no
``threading._shutdown`` that would join them.

PEP 788 guards (``guard``/``unguard``): only the ``guards`` variant has them;
elsewhere they are no-ops, as C code written for older versions would have to
do without.  A refused guard makes the thread skip the rest of its steps, as C
code returns on failure.
"""

from __future__ import annotations

from finirace.model.exitguard import meets_async_exc
from finirace.model import guards
from finirace.model.gil import detach, drop_gil, init_threads, take_gil
from finirace.model.interpreters import interp_alive, interp_for_new_thread, unlink
from finirace.model.program import Ctx, Program, call, instr
from finirace.model.pystate import new_threadstate, restore, tstate_name
from finirace.model.variant import Variant
from finirace.model.world import DONE, EXITED, NEW, RUN


def _spawn(c: Ctx) -> None:
    # pthread_create
    c.set_thread(c.step.arg, status=RUN)
    c.note = f"starts thread {c.step.arg}"
    c.finish()


def _join(c: Ctx) -> None:
    # pthread_join: returns once the thread ended (normally or by pthread_exit)
    other = c.step.arg
    c.read(f"thread:{other}")
    if c.threads[c.machine.threads.index(other)].status not in (DONE, EXITED):
        c.wait()
    c.note = f"{other} has ended"
    c.finish()


def _join_waits(machine, world, step) -> bool:
    """Whether :func:`_join` waits (its ``Instr.blocked``): the thread has not ended."""
    return world.threads[machine.threads.index(step.arg)].status not in (DONE, EXITED)


def _lock(c: Ctx) -> None:
    name = c.step.arg
    c.read(f"lock:{name}")
    c.write(f"lock:{name}")
    if name in c.locks:
        c.wait()
    c.locks[name] = c.name
    c.note = f"locks {name}"
    c.finish()


def _unlock(c: Ctx) -> None:
    name = c.step.arg
    c.read(f"lock:{name}")
    c.write(f"lock:{name}")
    c.locks.pop(name, None)
    c.note = f"unlocks {name}"
    c.finish()


def _signal(c: Ctx) -> None:
    c.write(f"event:{c.step.arg}")
    c.events = c.events | {c.step.arg}
    c.note = f"signals {c.step.arg}"
    c.finish()


def _wait_event(c: Ctx) -> None:
    c.read(f"event:{c.step.arg}")
    if c.step.arg not in c.events:
        c.wait()
    c.note = f"{c.step.arg} was signalled"
    c.finish()


def _event_waits(machine, world, step) -> bool:
    """Whether :func:`_wait_event` waits (its ``Instr.blocked``): the event is not signalled."""
    return step.arg not in world.events


def _block(c: Ctx) -> None:
    c.note = "the blocking call returns"
    c.finish()


def _enters_python(c: Ctx) -> bool:
    """PyRun_SimpleStringFlags up to running the code: False when an asynchronous exception ends the step."""
    # needs an attached thread state
    if c.me.tstate is None or not c.holds_gil():
        c.crash("PyRun_SimpleStringFlags")  # _PyThreadState_GET() is NULL
    if c.me.python and meets_async_exc(c):
        return False
    c.load(c.me.tstate, "tstate->interp")
    if not interp_alive(c, c.me.tstate):
        c.crash("PyRun_SimpleStringFlags")  # the interpreter is gone
    return True


def _python(c: Ctx) -> None:
    # PyRun_SimpleStringFlags
    if not _enters_python(c):
        return
    c.note = "runs Python code"
    c.finish()


def _start_thread(c: Ctx) -> None:
    # threading.Thread.start() → _start_new_thread(self._bootstrap, ()) (3.13+: _start_joinable_thread):
    # thread_PyThread_start_new_thread (3.13+: ThreadHandle_start), called with the GIL held
    child = c.step.arg
    if c.me.tstate is None or not c.holds_gil():
        c.crash("thread_PyThread_start_new_thread")
    init_threads(c)  # 3.6: PyEval_InitThreads() makes the GIL, held by the caller
    c.read("runtime")
    if c.variant.refuses_thread_start and c.rt.finalizing is not None:
        c.note = "RuntimeError: can't create new thread at interpreter shutdown"
        c.finish()  # start() raises: no wait
        return
    block = new_threadstate(c, child, interp_for_new_thread(c))  # in the caller's interpreter
    c.set_thread(child, status=RUN, pc=-1, tstate=block, python=True,
                 wrapper=block if c.variant.wrapper else None)
    # then start() runs self._started.wait(): Event.wait → Condition.wait → waiter.acquire() →
    # acquire_timed: the non-blocking try fails (only the child sets the event), so
    # Py_BEGIN_ALLOW_THREADS (PyEval_SaveThread → drop_gil).  The Python code in between holds
    # the GIL: nothing another thread does meanwhile depends on it, so it is one atomic step.
    detach(c)
    c.note = f"starts Python thread {child} with a new {tstate_name(child)}; start() waits for it, GIL released"


def _wait_started(c: Ctx) -> None:
    # acquire_timed (3.13+ PyThread_acquire_lock_timed_with_retries), GIL released:
    # PyThread_acquire_lock_timed(lock, -1, 1) returns once the child's Thread._bootstrap_inner
    # ran self._started.set(), which it does right after t_bootstrap / thread_run took the GIL
    # (PyEval_AcquireThread): the model folds that into the child's bootstrap (machine.py: a
    # thread leaving its bootstrap writes thread:T).  A child that gave up there never sets it.
    child = c.step.arg
    c.read(f"thread:{child}")
    rec = c.threads[c.machine.threads.index(child)]
    if rec.status == NEW or rec.pc < 0:  # not started, or gave up in its bootstrap
        c.wait()
    c.note = f"{child} has started (_started is set): Py_END_ALLOW_THREADS"


def _python_thread(c: Ctx) -> None:
    # PyRun_SimpleStringFlags("threading.Thread(target=..., daemon=True).start()"): the code runs
    # (as a python step) and its start() is thread_PyThread_start_new_thread, refused on 3.12+ once
    # finalizing (RuntimeError, printed by PyRun_SimpleString; the step returns)
    if _enters_python(c):
        _start_thread(c)
    else:
        c.finish()  # the asynchronous exception ends the code before start()
    c.note = "Python code: " + c.note


def _teardown(c: Ctx) -> None:
    # thread_run end: PyThreadState_Clear(tstate); _PyThreadState_DeleteCurrent(tstate)
    ts = c.me.tstate
    if ts is None or not c.holds_gil():
        c.abort("Fatal Python error: _PyThreadState_DeleteCurrent: the function must be called with the GIL held")
    c.load(ts, "tstate->frame")
    unlink(c, ts)
    c.free(ts)
    c.set_me(tstate=None, wrapper=None)
    drop_gil(c)
    c.note = "the thread ends: deletes its state, releases the GIL"
    c.finish()


def _guard(c: Ctx) -> None:
    if not c.variant.guards:
        c.note = "no interpreter guards here: no-op"
        c.finish()
        return
    if not guards.take(c):
        c.note = "guard refused: the interpreter is finalizing; the thread returns"
        c.skip_rest()
        return
    c.note = "holds an interpreter guard"
    c.finish()


def _unguard(c: Ctx) -> None:
    if not c.variant.guards or c.me.guards == 0:
        c.note = "no guard held: no-op"
        c.finish()
        return
    guards.close(c)


def one(label: str, run, function: str, **kw):
    return lambda v: (instr(label, run, function, **kw),)


spawn = one("pthread_create", _spawn, "pthread_create")
join = one("pthread_join", _join, "pthread_join", waits="join", blocked=_join_waits)
lock = one("pthread_mutex_lock", _lock, "pthread_mutex_lock", waits="lock")
unlock = one("pthread_mutex_unlock", _unlock, "pthread_mutex_unlock")
signal = one("signal", _signal, "write")
wait = one("wait", _wait_event, "read", waits="event", blocked=_event_waits)
python = one("PyRun_SimpleStringFlags", _python, "PyRun_SimpleStringFlags")


def _started_wait(v: Variant) -> Program:
    """``self._started.wait()`` after the start: wait, GIL released, until the child set the
    event, then ``Py_END_ALLOW_THREADS`` (``PyEval_RestoreThread``, as the era runs it)."""
    wait_ = instr("acquire_timed.wait", _wait_started, "acquire_timed", waits="started", in_runtime=True)
    return call("threading.Thread.start", (call("lock_PyThread_acquire_lock", (wait_,)) + restore(v)))


def start_thread(v: Variant) -> Program:
    return (instr("thread_PyThread_start_new_thread", _start_thread, "thread_PyThread_start_new_thread"),
            *_started_wait(v))


def python_thread(v: Variant) -> Program:
    return call("PyRun_SimpleStringFlags", (
        instr("thread_PyThread_start_new_thread", _python_thread, "thread_PyThread_start_new_thread"),
        *_started_wait(v)))


guard = one("PyInterpreterGuard_FromView", _guard, "PyInterpreterGuard_FromView")
unguard = one("PyInterpreterGuard_Close", _unguard, "PyInterpreterGuard_Close")


def block(v: Variant, until: bool) -> Program:
    if until:
        return (instr("read", _wait_event, "read", waits="event", blocked=_event_waits),)
    return (instr("read", _block, "read"),)


def bootstrap(v: Variant) -> Program:
    """A threading thread's start: ``thread_run`` → ``PyEval_AcquireThread`` → ``take_gil``.

    3.6's ``PyEval_AcquireThread`` is ``take_gil`` + ``PyThreadState_Swap``, with no
    ``_Py_Finalizing`` check (3.8 added one).  3.7's lacks it too, but there the
    finalizer never lets the GIL go, so a late thread never gets that far; in 3.6 a
    GIL made after finalization began (``PyEval_InitThreads``) can be free."""
    acquire = call("PyEval_AcquireThread", take_gil(v, check_finalizing=not v.lazy_gil))
    if v.thread_run_reads_tstate:
        # 3.9–3.10 thread_run: _PyThreadState_Init(tstate) first (its gilstate note reads
        # tstate->interp->runtime), then PyEval_AcquireThread
        return call("thread_run", (instr("_PyThreadState_Init", _init_tstate, "_PyThreadState_Init"), *acquire))
    return call("thread_run", acquire)


def _init_tstate(c: Ctx) -> None:
    c.load(c.me.tstate, "tstate->interp")
    c.note = "_PyThreadState_Init: reads tstate->interp"


def teardown(v: Variant) -> Program:
    return (instr("thread_run", _teardown, "thread_run"),)
