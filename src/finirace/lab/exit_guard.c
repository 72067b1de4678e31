/* The exit_guard step: finirace.guard's protocol (finirace/guard/safepoint.py) in a
 * lab program.  The program's Python threads are threading daemon threads whose
 * target is C (their steps); a python step is their bytecode boundary.  The guard
 * tells every daemon thread (PyThreadState_SetAsyncExc, as finirace.guard does
 * through ctypes), then waits with the GIL released, at most FR_GUARD_BOUND_MS,
 * until each stopped (its target returned and threading ended it: joined) or parked
 * (blocked for ever, the GIL released).  A told thread's next python step fails
 * with the guard's exception (not SystemExit: PyRun_SimpleString would exit the
 * process on it) and fr_guard_point stops it there (the rest of its steps are
 * skipped, its target returns) or parks it. */
#define FR_GUARD_BOUND_MS 2000
static PyObject *fr_guard_exc;  /* the exception class the guard raises */
static int fr_guard_mode;       /* 0: no guard yet, 1: stop, 2: park */
static int fr_guard_parked;

static long fr_guard_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* The guard's bounded wait, GIL released: the model's bring_to_safe_point begins at
 * this function's entry (an exact schedule holds the guard there: lab/lines/program.toml).
 * Park mode polls until every told thread parked; stop mode joins them after it, through
 * threading, once the GIL is back. */
static void fr_guard_wait(int mode, int told, long deadline)
{
    while (mode == 2 && __atomic_load_n(&fr_guard_parked, __ATOMIC_SEQ_CST) < told && fr_guard_ms() < deadline)
        usleep(1000);
}

static void fr_exit_guard(int mode)
{
    long deadline = fr_guard_ms() + FR_GUARD_BOUND_MS;
    int told = 0;
    if (fr_guard_exc == NULL)
        fr_guard_exc = PyErr_NewException("finirace_guard.GuardExit", NULL, NULL);
    __atomic_store_n(&fr_guard_mode, mode, __ATOMIC_SEQ_CST);
    PyObject *threading = PyImport_ImportModule("threading");
    PyObject *all = threading ? PyObject_CallMethod(threading, "enumerate", NULL) : NULL;
    PyObject *me = threading ? PyObject_CallMethod(threading, "current_thread", NULL) : NULL;
    PyObject *daemons = PyList_New(0);
    for (Py_ssize_t i = 0; all && me && daemons && i < PyList_Size(all); i++) {
        PyObject *t = PyList_GetItem(all, i);
        PyObject *daemon = PyObject_GetAttrString(t, "daemon");
        PyObject *ident = PyObject_GetAttrString(t, "ident");
        if (t != me && daemon == Py_True && ident != NULL && ident != Py_None
                && PyThreadState_SetAsyncExc(PyLong_AsUnsignedLong(ident), fr_guard_exc) == 1) {
            PyList_Append(daemons, t);
            told++;
        }
        Py_XDECREF(daemon); Py_XDECREF(ident);
    }
    if (PyErr_Occurred()) PyErr_Print();
    Py_BEGIN_ALLOW_THREADS
    fr_guard_wait(mode, told, deadline);
    Py_END_ALLOW_THREADS
    for (Py_ssize_t i = 0; mode == 1 && daemons && i < PyList_Size(daemons); i++) {
        long left = deadline - fr_guard_ms();
        PyObject *r = PyObject_CallMethod(PyList_GetItem(daemons, i), "join", "d", left > 0 ? left / 1000.0 : 0.0);
        if (r == NULL) PyErr_Print();
        Py_XDECREF(r);
    }
    Py_XDECREF(daemons); Py_XDECREF(me); Py_XDECREF(all); Py_XDECREF(threading);
}

/* After a python step of a Python thread: 1 when the guard stopped it there (the
 * caller skips its remaining steps); never returns when it parks it. */
static int fr_guard_point(int failed)
{
    int mode = __atomic_load_n(&fr_guard_mode, __ATOMIC_SEQ_CST);
    if (!failed || mode == 0) return 0;
    if (mode == 1) return 1;
    __atomic_add_fetch(&fr_guard_parked, 1, __ATOMIC_SEQ_CST);
    Py_BEGIN_ALLOW_THREADS
    for (;;) pause();
    Py_END_ALLOW_THREADS
    return 1;
}
