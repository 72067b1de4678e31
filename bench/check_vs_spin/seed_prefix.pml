/* The `seed` scenario under the pre-fix semantics (the 3.9 development branch
 * of late 2019), written by hand for SPIN, to compare against
 * `finirace check seed --variant prefix`:
 *   main   = init, save, spawn worker, wait blocked, restore, finalize
 *   worker = ensure, save, signal blocked, block, restore, release
 * One statement per atomic step of the C code, as finirace's model splits them.
 * The process exits when main returns: the worker's body is cut off then
 * (`unless main_done`).  A use-after-free or a crash is an assertion failure.
 */
#define NONE  0
#define ALIVE 1
#define FREED 2

bool gil_locked = false;          /* _gil_runtime_state.locked */
bool finalizing = false;          /* _PyRuntime._finalizing != NULL */
byte interp = NONE;               /* PyInterpreterState */
bool auto_interp = false;         /* gilstate.autoInterpreterState != NULL */
byte ts_main = NONE;
byte ts_worker = NONE;
bool ev_blocked = false;
bool main_done = false;

proctype worker() {
  {
    /* ensure: PyGILState_Ensure -> PyThreadState_New(autoInterpreterState) */
    assert(auto_interp);                          /* NULL interpreter: crash */
    ts_worker = ALIVE;                            /* new_threadstate */
    assert(ts_worker != FREED);                   /* PyEval_RestoreThread reads tstate->interp */
    atomic { !gil_locked -> gil_locked = true };  /* take_gil */
    skip;                                         /* take_gil: holds it, attaches */
    /* save */
    gil_locked = false;
    /* signal blocked */
    ev_blocked = true;
    /* block */
    skip;
    /* restore: PyEval_RestoreThread reads tstate->interp->runtime */
    assert(ts_worker != FREED);
    atomic { !gil_locked -> gil_locked = true };
    skip;
    /* release: PyGILState_Release deletes its state, drops the GIL */
    assert(ts_worker != FREED);
    ts_worker = FREED;
    gil_locked = false
  } unless { main_done }
}

active proctype main() {
  /* init */
  interp = ALIVE; auto_interp = true;
  ts_main = ALIVE; gil_locked = true;
  /* save */
  gil_locked = false;
  /* spawn worker */
  run worker();
  /* wait blocked */
  ev_blocked;
  /* restore */
  skip;                                           /* reads tstate->interp->runtime */
  atomic { !gil_locked -> gil_locked = true };
  skip;
  /* finalize: Py_FinalizeEx */
  skip;
  finalizing = true;                              /* _PyRuntimeState_SetFinalizing */
  auto_interp = false;                            /* _PyGILState_Fini */
  atomic {                                        /* zapthreads */
    ts_main = FREED;
    if :: ts_worker == ALIVE -> ts_worker = FREED :: else -> skip fi
  };
  interp = FREED;                                 /* PyInterpreterState_Delete; the GIL stays locked */
  main_done = true
}
