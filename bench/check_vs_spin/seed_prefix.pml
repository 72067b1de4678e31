/* The `seed` scenario under the pre-fix semantics (the 3.9 development branch
 * of late 2019), written by hand for SPIN, to compare against `finirace check
 * seed --variant prefix`.  One Promela statement per atomic step of the C code:
 *   main   = init, save, spawn worker, wait blocked, restore, finalize, signal finalized
 *   worker = ensure, save, signal blocked, block until finalized, restore, release
 * A use-after-free is an assertion failure: the worker's take_gil reads its
 * PyThreadState after Py_FinalizeEx freed it (zapthreads).
 */
#define NONE  0
#define ALIVE 1
#define FREED 2

bool gil_locked = false;          /* _gil_runtime_state.locked */
bool finalizing = false;          /* _PyRuntime.finalizing != NULL */
byte interp = NONE;               /* PyInterpreterState */
byte ts_main = NONE;              /* PyThreadState of main */
byte ts_worker = NONE;            /* PyThreadState of worker */
bool ev_blocked = false;
bool ev_finalized = false;

proctype worker() {
  /* ensure: PyGILState_Ensure -> PyThreadState_New (reads the interpreter) */
  assert(interp == ALIVE);
  ts_worker = ALIVE;
  /* ... -> PyEval_RestoreThread -> take_gil: wait for the mutex, then hold it */
  atomic { !gil_locked -> assert(ts_worker != FREED); gil_locked = true };
  /* save: PyEval_SaveThread -> drop_gil */
  gil_locked = false;
  /* signal blocked */
  ev_blocked = true;
  /* block until finalized */
  ev_finalized;
  /* restore: PyEval_RestoreThread(tstate) -> take_gil(tstate) reads tstate->interp */
  assert(ts_worker != FREED);
  atomic { !gil_locked -> gil_locked = true };
  /* release: PyGILState_Release -> PyThreadState_DeleteCurrent */
  assert(ts_worker != FREED);
  ts_worker = FREED;
  gil_locked = false
}

active proctype main() {
  /* init: Py_Initialize */
  interp = ALIVE;
  ts_main = ALIVE;
  gil_locked = true;
  /* save: drop_gil */
  gil_locked = false;
  /* spawn worker */
  run worker();
  /* wait blocked */
  ev_blocked;
  /* restore: take_gil */
  atomic { !gil_locked -> gil_locked = true };
  /* finalize: Py_FinalizeEx -> _PyRuntimeState_SetFinalizing */
  finalizing = true;
  /* ... PyInterpreterState_Delete -> zapthreads: every thread state freed */
  if :: ts_worker == ALIVE -> ts_worker = FREED :: else -> skip fi;
  ts_main = FREED;
  interp = FREED;
  /* the finalizing thread keeps the GIL (the pre-fix runtime never drops it) */
  /* signal finalized */
  ev_finalized = true
}
