/* The `seed` scenario under the wrapper patch proposed on bpo-33608, written by
 * hand for SPIN, to compare against `finirace check seed --variant wrapper`.
 * Threads hold a wrapper { PyThreadState *ts; }; finalization nulls ts before
 * freeing the states, and a waking thread checks it first: if NULL it leaves
 * (pthread_exit).  The residual race: the check and the read of the state are
 * two steps, and finalization can fall between them.
 */
#define NONE  0
#define ALIVE 1
#define FREED 2

bool gil_locked = false;
bool finalizing = false;
byte interp = NONE;
bool auto_interp = false;
byte ts_main = NONE;
byte ts_worker = NONE;
bool wrap_worker = false;         /* wrapper->ts != NULL */
bool ev_blocked = false;
bool main_done = false;
bool worker_exited = false;

proctype worker() {
  {
    /* ensure */
    assert(auto_interp);
    ts_worker = ALIVE; wrap_worker = true;
    if :: !wrap_worker -> worker_exited = true; goto out :: else -> skip fi;
    assert(ts_worker != FREED);
    atomic { !gil_locked -> gil_locked = true };
    skip;
    /* save */
    gil_locked = false;
    /* signal blocked */
    ev_blocked = true;
    /* block */
    skip;
    /* restore: check the wrapper, then read the state */
    if :: !wrap_worker -> worker_exited = true; goto out :: else -> skip fi;
    assert(ts_worker != FREED);
    atomic { !gil_locked -> gil_locked = true };
    skip;
    /* release */
    assert(ts_worker != FREED);
    ts_worker = FREED; wrap_worker = false;
    gil_locked = false;
out:
    skip
  } unless { main_done }
}

active proctype main() {
  interp = ALIVE; auto_interp = true;
  ts_main = ALIVE; gil_locked = true;
  gil_locked = false;
  run worker();
  ev_blocked;
  skip;
  atomic { !gil_locked -> gil_locked = true };
  skip;
  /* finalize */
  skip;
  finalizing = true;
  auto_interp = false;
  wrap_worker = false;                            /* zapthreads: nulls every wrapper's ts */
  atomic {                                        /* zapthreads: frees every state */
    ts_main = FREED;
    if :: ts_worker == ALIVE -> ts_worker = FREED :: else -> skip fi
  };
  interp = FREED;
  main_done = true
}
