/* `seed` with N alike workers under the pre-fix semantics, by hand for SPIN
 * (spin -DN=3 -a seed_prefix_workers.pml), to compare against `finirace check`
 * on the scenario bench/check_vs_spin/run.py writes for the same N:
 *   main   = init, save, spawn w1..wN, wait b1..bN, restore, finalize
 *   wI     = ensure, save, signal bI, block, restore, release
 * The same atomic steps as seed_prefix.pml, one worker process per wI; the
 * process exits when main returns (`unless main_done`); a use-after-free or a
 * crash is an assertion failure.  SPIN's own symmetry reduction is not used.
 */
#ifndef N
#define N 3
#endif
#define NONE  0
#define ALIVE 1
#define FREED 2

bool gil_locked = false;          /* _gil_runtime_state.locked */
bool finalizing = false;          /* _PyRuntime._finalizing != NULL */
byte interp = NONE;               /* PyInterpreterState */
bool auto_interp = false;         /* gilstate.autoInterpreterState != NULL */
byte ts_main = NONE;
byte ts[N];                       /* each worker's PyThreadState */
bool ev[N];                       /* bI signalled */
bool main_done = false;

proctype worker(byte id) {
  {
    /* ensure: PyGILState_Ensure -> PyThreadState_New(autoInterpreterState) */
    assert(auto_interp);                          /* NULL interpreter: crash */
    ts[id] = ALIVE;                               /* new_threadstate */
    assert(ts[id] != FREED);                      /* PyEval_RestoreThread reads tstate->interp */
    atomic { !gil_locked -> gil_locked = true };  /* take_gil */
    skip;                                         /* take_gil: holds it, attaches */
    /* save */
    gil_locked = false;
    /* signal bI */
    ev[id] = true;
    /* block */
    skip;
    /* restore: PyEval_RestoreThread reads tstate->interp->runtime */
    assert(ts[id] != FREED);
    atomic { !gil_locked -> gil_locked = true };
    skip;
    /* release: PyGILState_Release deletes its state, drops the GIL */
    assert(ts[id] != FREED);
    ts[id] = FREED;
    gil_locked = false
  } unless { main_done }
}

active proctype main() {
  byte i;
  /* init */
  interp = ALIVE; auto_interp = true;
  ts_main = ALIVE; gil_locked = true;
  /* save */
  gil_locked = false;
  /* spawn w1..wN */
  i = 0;
  do
  :: i < N -> run worker(i); i++
  :: else -> break
  od;
  /* wait b1..bN, in order */
  i = 0;
  do
  :: i < N -> ev[i]; i++
  :: else -> break
  od;
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
    i = 0;
    do
    :: i < N -> if :: ts[i] == ALIVE -> ts[i] = FREED :: else -> skip fi; i++
    :: else -> break
    od
  };
  interp = FREED;                                 /* PyInterpreterState_Delete; the GIL stays locked */
  main_done = true
}
