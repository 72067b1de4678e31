/* The `seed` scenario under the wrapper patch proposed on bpo-33608, written by
 * hand for SPIN, to compare against `finirace check seed --variant wrapper`.
 * Threads hold a wrapper { PyThreadState *ts; }; finalization sets ts to NULL,
 * and a waking thread checks it before take_gil: if NULL it leaves the thread
 * (pthread_exit) instead of touching the freed state.  The residual race: the
 * check and take_gil are two steps, finalization may fall between them.
 */
#define NONE  0
#define ALIVE 1
#define FREED 2

bool gil_locked = false;
bool finalizing = false;
byte interp = NONE;
byte ts_main = NONE;
byte ts_worker = NONE;
bool wrap_worker = false;         /* wrapper->ts != NULL */
bool ev_blocked = false;
bool ev_finalized = false;
bool worker_exited = false;

proctype worker() {
  /* ensure */
  assert(interp == ALIVE);
  ts_worker = ALIVE;
  wrap_worker = true;
  atomic { !gil_locked -> assert(ts_worker != FREED); gil_locked = true };
  /* save */
  gil_locked = false;
  /* signal blocked */
  ev_blocked = true;
  /* block until finalized */
  ev_finalized;
  /* restore: check the wrapper first */
  if
  :: !wrap_worker -> worker_exited = true; goto done
  :: else -> skip
  fi;
  /* take_gil(wrapper->ts): the state may have been freed since the check */
  atomic { !gil_locked -> assert(ts_worker != FREED); gil_locked = true };
  /* release */
  assert(ts_worker != FREED);
  ts_worker = FREED;
  wrap_worker = false;
  gil_locked = false;
done:
  skip
}

active proctype main() {
  interp = ALIVE;
  ts_main = ALIVE;
  gil_locked = true;
  gil_locked = false;
  run worker();
  ev_blocked;
  atomic { !gil_locked -> gil_locked = true };
  /* finalize: null every wrapper, then free every thread state */
  finalizing = true;
  wrap_worker = false;
  if :: ts_worker == ALIVE -> ts_worker = FREED :: else -> skip fi;
  ts_main = FREED;
  interp = FREED;
  ev_finalized = true
}
