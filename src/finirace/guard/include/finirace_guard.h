/* finirace_guard.h: interpreter guards for C and C++ extensions on CPython 3.8-3.14,
 * and the same names over PEP 788 on 3.15 and newer.
 *
 * The problem.  A thread that comes back into CPython while or after Py_FinalizeEx
 * tears the interpreter down meets a different fate on every version: it blocks for
 * ever in take_gil (3.6-3.8), it is killed with pthread_exit there (3.9-3.13; C++ code
 * that unwinds through a noexcept frame then calls std::terminate), it is parked for
 * ever (3.14), or PyGILState_Ensure dereferences a NULL interpreter (every release
 * before the gh-124619 fix).  PEP 788 (3.15) fixes this with interpreter guards: while
 * a guard is held the interpreter does not finalize, and no guard can be taken once
 * finalization began.  This header gives extensions the same protocol on 3.8-3.14.
 *
 * How it holds finalization off.  FiniRace_Setup (call it from your module's init
 * function, with the GIL held, while the runtime is whole) registers a callback with
 * the atexit module.  Py_FinalizeEx runs atexit callbacks before it tears anything
 * down (after threading joined the non-daemon threads).  The callback
 *   1. closes the gate: from now on every guard acquisition is refused;
 *   2. waits, with the GIL released, until every held guard is released, at most
 *      FiniRace_SetExitTimeout seconds (default 5; the environment variable
 *      FINIRACE_GUARD_TIMEOUT, in seconds, overrides both); when the bound runs out it
 *      prints one warning line on stderr;
 *   3. marks the interpreter gone: from now on "end allow threads" and "attach" report
 *      failure instead of touching the interpreter, and waits (GIL released) for the
 *      threads already inside one of them to come out of PyEval_RestoreThread;
 *   4. returns, and finalization goes on.
 * Acquire is an atomic increment of the held count followed by a read of the gate; the
 * callback closes the gate and then reads the count.  Both use sequentially consistent
 * atomics, so either the acquirer sees the closed gate (and backs out) or the callback
 * sees the guard (and waits for it): a guard is never granted behind the callback's
 * back.  "End" and "attach" do the same with a second counter against step 3.
 *
 * Memory safety.  The helper's state is plain static storage of the shared object that
 * includes this header (extension modules are never unloaded), touched only with
 * atomic operations: no Python object, no heap block, nothing that finalization frees.
 * After step 3 no function here touches the interpreter: they read and write the
 * static state only, and return failure.  Nothing here ever blocks for ever: acquire
 * and release never wait, and the callback's wait is bounded.
 *
 * One state per shared object.  The state is a weak, hidden-visibility definition, so
 * every file of one extension that includes this header shares it, and two extension
 * modules that both include it each keep their own (with their own atexit callback).
 * A capsule shared between modules would tie them to one layout of the state across
 * versions of this header, and finding it needs the GIL; per-module state needs
 * neither.  Each module's callback waits for its own guards, all before finalization
 * proper begins; with N modules the exit may wait N bounds at worst.
 *
 * What a failure means.  FiniRace_EndAllowThreads returns -1 when finalization went on
 * while the GIL was released (the bound ran out), or when the begin came after
 * finalization began in a thread holding no guard: the thread is detached for good and
 * its PyThreadState may already be freed.  Do not touch Python, return to your C caller, or, in a
 * function called from Python (which cannot return into the interpreter any more),
 * call FiniRace_ParkThread().  FiniRace_Release after a failed end on the same thread
 * does nothing.  The C++ classes do this for you.
 *
 * Limits.  The main interpreter only.  A guard holder that is running Python (GIL
 * held) when the bound runs out meets its era's fate at its next GIL switch: keep
 * guarded sections short or the bound long.  Once the callback ran, the helper refuses
 * for the rest of the process (an embedder that calls Py_Initialize again gets no
 * guards).  On 3.15+ every name below maps to PEP 788 and FiniRace_Setup,
 * FiniRace_SetExitTimeout do nothing (the interpreter waits for guards itself, for
 * ever).
 *
 * API (C; guards are pointers, NULL means refused, no Python exception is ever set
 * except by FiniRace_Setup):
 *   int  FiniRace_Setup(void);                          GIL held; 0, or -1 with an exception
 *   void FiniRace_SetExitTimeout(double seconds);
 *   FiniRaceGuard *FiniRaceGuard_FromCurrent(void);     GIL held  (PyInterpreterGuard_FromCurrent)
 *   FiniRaceGuard *FiniRaceGuard_FromView(FiniRaceView *); any thread (PyInterpreterGuard_FromView)
 *   void FiniRaceGuard_Close(FiniRaceGuard *);          any thread (PyInterpreterGuard_Close)
 *   FiniRaceView *FiniRaceView_FromCurrent(void);       GIL held  (PyInterpreterView_FromCurrent)
 *   FiniRaceView *FiniRaceView_FromMain(void);          any thread (PyInterpreterView_FromMain)
 *   void FiniRaceView_Close(FiniRaceView *);            (PyInterpreterView_Close)
 *   FiniRaceToken *FiniRace_Ensure(FiniRaceGuard *);    attach   (PyThreadState_Ensure)
 *   FiniRaceToken *FiniRace_EnsureFromView(FiniRaceView *); attach, guard included
 *                                                       (PyThreadState_EnsureFromView)
 *   void FiniRace_Release(FiniRaceToken *);             detach   (PyThreadState_Release)
 *   FiniRaceAllow FiniRace_BeginAllowThreads(void);     GIL held; like Py_BEGIN_ALLOW_THREADS
 *   int  FiniRace_EndAllowThreads(FiniRaceAllow *);     0: GIL held again; -1: detached for good
 *   void FiniRace_ParkThread(void);                     never returns; touches nothing
 *   FINIRACE_BEGIN_ALLOW_THREADS ... FINIRACE_END_ALLOW_THREADS_OR(on_failure)
 * C++ (namespace finirace): gil_scoped_release, gil_scoped_acquire (see below).
 */
#ifndef FINIRACE_GUARD_H
#define FINIRACE_GUARD_H

#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define FINIRACE_GUARD_VERSION 1

#ifndef FINIRACE_GUARD_DEFAULT_TIMEOUT
#define FINIRACE_GUARD_DEFAULT_TIMEOUT 5.0 /* seconds */
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FINIRACE_SHARED_ __attribute__((weak, visibility("hidden")))
#define FINIRACE_UNUSED_ __attribute__((unused))
#else
#define FINIRACE_SHARED_ static
#define FINIRACE_UNUSED_
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if PY_VERSION_HEX >= 0x030F0000
/* ---- 3.15+: PEP 788 does it all ------------------------------------------------- */

typedef PyInterpreterGuard FiniRaceGuard;
typedef PyInterpreterView FiniRaceView;
typedef PyThreadStateToken FiniRaceToken;
typedef struct { PyThreadState *tstate; FiniRaceGuard *guard; } FiniRaceAllow;

static inline int FiniRace_Setup(void) { return 0; }
static inline void FiniRace_SetExitTimeout(double seconds) { (void)seconds; }
static inline FiniRaceGuard *FiniRaceGuard_FromCurrent(void)
{
    FiniRaceGuard *g = PyInterpreterGuard_FromCurrent();
    if (g == NULL) PyErr_Clear();
    return g;
}
static inline FiniRaceGuard *FiniRaceGuard_FromView(FiniRaceView *v)
{
    return v ? PyInterpreterGuard_FromView(v) : NULL;
}
static inline void FiniRaceGuard_Close(FiniRaceGuard *g) { if (g) PyInterpreterGuard_Close(g); }
static inline FiniRaceView *FiniRaceView_FromCurrent(void)
{
    FiniRaceView *v = PyInterpreterView_FromCurrent();
    if (v == NULL) PyErr_Clear();
    return v;
}
static inline FiniRaceView *FiniRaceView_FromMain(void) { return PyInterpreterView_FromMain(); }
static inline void FiniRaceView_Close(FiniRaceView *v) { if (v) PyInterpreterView_Close(v); }
static inline FiniRaceToken *FiniRace_Ensure(FiniRaceGuard *g) { return g ? PyThreadState_Ensure(g) : NULL; }
static inline FiniRaceToken *FiniRace_EnsureFromView(FiniRaceView *v)
{
    return v ? PyThreadState_EnsureFromView(v) : NULL;
}
static inline void FiniRace_Release(FiniRaceToken *t) { if (t) PyThreadState_Release(t); }
static inline FiniRaceAllow FiniRace_BeginAllowThreads(void)
{
    FiniRaceAllow a;
    a.guard = FiniRaceGuard_FromCurrent();
    a.tstate = a.guard ? PyEval_SaveThread() : NULL; /* refused: keep the GIL */
    return a;
}
static inline int FiniRace_EndAllowThreads(FiniRaceAllow *a)
{
    if (a->tstate != NULL) {  /* the guard held finalization off: this cannot fail */
        PyEval_RestoreThread(a->tstate);
        a->tstate = NULL;
    }
    FiniRaceGuard_Close(a->guard);
    a->guard = NULL;
    return 0;
}

#else
/* ---- 3.8-3.14: the helper's own protocol ---------------------------------------- */

typedef struct FiniRaceGuard_ FiniRaceGuard; /* opaque: a token, never dereferenced */
typedef struct FiniRaceView_ FiniRaceView;
typedef struct FiniRaceToken_ FiniRaceToken;
typedef struct {
    PyThreadState *tstate; /* NULL: the GIL was kept */
    int guarded;           /* this begin holds a guard of its own */
    int doomed;            /* released without any guard once finalization began: end fails */
} FiniRaceAllow;

enum { FINIRACE_OPEN_ = 0, FINIRACE_CLOSED_ = 1, FINIRACE_GONE_ = 2 };
enum { FINIRACE_SETUP_NONE_ = 0, FINIRACE_SETUP_BUSY_ = 1, FINIRACE_SETUP_DONE_ = 2 };

/* Static storage only, read and written with atomics: it outlives the interpreter. */
typedef struct {
    int setup;       /* FINIRACE_SETUP_*: the atexit callback is registered */
    int phase;       /* FINIRACE_OPEN_ -> CLOSED_ (no new guard) -> GONE_ (wait over) */
    long held;       /* guards held */
    long entering;   /* threads between their phase check and the return of their
                        PyEval_RestoreThread / PyGILState_Ensure */
    double timeout;  /* seconds; < 0: FINIRACE_GUARD_DEFAULT_TIMEOUT */
    int timed_out;   /* the bound ran out at exit */
    pthread_t finalizer; /* the thread that ran the callback (set before the gate closes) */
} FiniRaceState_;

FINIRACE_SHARED_ FiniRaceState_ finirace_state_ = {0, 0, 0, 0, -1.0, 0, 0};
/* Guards this thread holds (any kind): with one, a begin needs no new guard. */
FINIRACE_SHARED_ __thread long finirace_held_here_ = 0;
/* This thread's end/attach failed: its PyThreadState is not ours to touch any more. */
FINIRACE_SHARED_ __thread int finirace_lost_ = 0;
FINIRACE_SHARED_ char finirace_tokens_[6] = {0, 0, 0, 0, 0, 0}; /* addresses used as tokens */

#define FINIRACE_LOAD_(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define FINIRACE_STORE_(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define FINIRACE_ADD_(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

static inline double finirace_now_(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Sleep a little, longer each time (50 us up to 1 ms): the wait at exit polls. */
static inline void finirace_pause_(long *us)
{
    struct timespec t;
    t.tv_sec = 0;
    t.tv_nsec = *us * 1000L;
    nanosleep(&t, NULL);
    if (*us < 1000) *us *= 2;
}

/* Until *counter is 0, or the deadline (< 0: none) passed; 1 when it reached 0. */
static inline int finirace_drain_(long *counter, double deadline)
{
    long us = 50;
    while (FINIRACE_LOAD_(counter) > 0) {
        if (deadline >= 0 && finirace_now_() >= deadline) return 0;
        finirace_pause_(&us);
    }
    return 1;
}

static inline double finirace_bound_(void)
{
    const char *env = getenv("FINIRACE_GUARD_TIMEOUT");
    double t = finirace_state_.timeout;
    if (env != NULL && *env != '\0') {
        char *end = NULL;
        double v = strtod(env, &end);
        if (end != env && v >= 0) t = v;
    }
    return t < 0 ? FINIRACE_GUARD_DEFAULT_TIMEOUT : t;
}

/* The atexit callback: runs inside Py_FinalizeEx with the GIL held, runtime whole. */
static PyObject *finirace_at_exit_(PyObject *self, PyObject *unused)
{
    FiniRaceState_ *st = &finirace_state_;
    double bound = finirace_bound_();
    long left;
    int drained = 1;
    (void)self; (void)unused;
    st->finalizer = pthread_self();                 /* published by the store below */
    FINIRACE_STORE_(&st->phase, FINIRACE_CLOSED_); /* 1: no new guard from now on */
    if (FINIRACE_LOAD_(&st->held) > 0) {            /* 2: wait for the held ones */
        Py_BEGIN_ALLOW_THREADS
        drained = finirace_drain_(&st->held, finirace_now_() + bound);
        Py_END_ALLOW_THREADS
    }
    left = FINIRACE_LOAD_(&st->held);
    if (!drained) {
        FINIRACE_STORE_(&st->timed_out, 1);
        fprintf(stderr, "finirace_guard: %ld guard(s) still held after %.3g s at exit; "
                        "finalizing anyway, their threads' end/attach now fail\n", left, bound);
        fflush(stderr);
    }
    FINIRACE_STORE_(&st->phase, FINIRACE_GONE_);   /* 3: late end/attach fail */
    if (FINIRACE_LOAD_(&st->entering) > 0) {
        /* they are inside PyEval_RestoreThread: it returns once the GIL is free */
        Py_BEGIN_ALLOW_THREADS
        finirace_drain_(&st->entering, -1.0);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

FINIRACE_SHARED_ PyMethodDef finirace_at_exit_def_ = {
    "finirace_guard_wait", finirace_at_exit_, METH_NOARGS,
    "finirace_guard: refuse new guards, wait (bounded) for the held ones"};

static inline int finirace_is_finalizing_(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#elif PY_VERSION_HEX >= 0x03070000
    return _Py_IsFinalizing();
#else
    return _Py_Finalizing != NULL;
#endif
}

/* Register the atexit callback, once.  GIL held.  0, or -1 with an exception set. */
static inline int FiniRace_Setup(void)
{
    FiniRaceState_ *st = &finirace_state_;
    int expected = FINIRACE_SETUP_NONE_;
    PyObject *fn, *mod, *res;
    if (FINIRACE_LOAD_(&st->setup) == FINIRACE_SETUP_DONE_) return 0;
    if (!__atomic_compare_exchange_n(&st->setup, &expected, FINIRACE_SETUP_BUSY_, 0,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        /* another thread is registering (its import released the GIL): wait for it */
        long us = 50;
        Py_BEGIN_ALLOW_THREADS
        while (FINIRACE_LOAD_(&st->setup) == FINIRACE_SETUP_BUSY_) finirace_pause_(&us);
        Py_END_ALLOW_THREADS
        if (FINIRACE_LOAD_(&st->setup) == FINIRACE_SETUP_DONE_) return 0;
        PyErr_SetString(PyExc_RuntimeError, "finirace_guard: setup failed in another thread");
        return -1;
    }
    if (finirace_is_finalizing_() || FINIRACE_LOAD_(&st->phase) != FINIRACE_OPEN_) {
        FINIRACE_STORE_(&st->setup, FINIRACE_SETUP_NONE_);
        PyErr_SetString(PyExc_RuntimeError, "finirace_guard: the interpreter is finalizing");
        return -1;
    }
    fn = PyCFunction_New(&finirace_at_exit_def_, NULL);
    mod = fn ? PyImport_ImportModule("atexit") : NULL;
    res = mod ? PyObject_CallMethod(mod, "register", "O", fn) : NULL;
    Py_XDECREF(res);
    Py_XDECREF(mod);
    Py_XDECREF(fn);
    FINIRACE_STORE_(&st->setup, res ? FINIRACE_SETUP_DONE_ : FINIRACE_SETUP_NONE_);
    return res ? 0 : -1;
}

static inline void FiniRace_SetExitTimeout(double seconds)
{
    __atomic_store(&finirace_state_.timeout, &seconds, __ATOMIC_SEQ_CST);
}

/* The protocol's acquire: count first, then look at the gate (see the top). */
static inline int finirace_acquire_(void)
{
    FiniRaceState_ *st = &finirace_state_;
    if (FINIRACE_LOAD_(&st->setup) != FINIRACE_SETUP_DONE_) return -1;
    FINIRACE_ADD_(&st->held, 1);
    if (FINIRACE_LOAD_(&st->phase) != FINIRACE_OPEN_) {
        FINIRACE_ADD_(&st->held, -1);
        return -1;
    }
    finirace_held_here_++;
    return 0;
}

static inline void finirace_release_(void)
{
    finirace_held_here_--;
    FINIRACE_ADD_(&finirace_state_.held, -1);
}

/* Finalization began (our callback ran) and this thread is not the one running it. */
static inline int finirace_late_thread_(void)
{
    return FINIRACE_LOAD_(&finirace_state_.phase) != FINIRACE_OPEN_ &&
           !pthread_equal(finirace_state_.finalizer, pthread_self());
}

/* Enter PyEval_RestoreThread / PyGILState_Ensure only while the interpreter is whole. */
static inline int finirace_enter_(void)
{
    FiniRaceState_ *st = &finirace_state_;
    FINIRACE_ADD_(&st->entering, 1);
    if (FINIRACE_LOAD_(&st->phase) == FINIRACE_GONE_) {
        FINIRACE_ADD_(&st->entering, -1);
        return -1;
    }
    return 0;
}

static inline void finirace_entered_(void) { FINIRACE_ADD_(&finirace_state_.entering, -1); }

/* Tokens are addresses in finirace_tokens_: 0-3 attach tokens (bit 0: PyGILState_UNLOCKED,
 * bit 1: owns a guard), 4 the guard, 5 the view.  Never dereferenced. */
#define FINIRACE_GUARD_TOKEN_ ((FiniRaceGuard *)(void *)&finirace_tokens_[4])
#define FINIRACE_VIEW_TOKEN_ ((FiniRaceView *)(void *)&finirace_tokens_[5])

static inline FiniRaceGuard *FiniRaceGuard_FromCurrent(void)
{
    if (FINIRACE_LOAD_(&finirace_state_.setup) != FINIRACE_SETUP_DONE_) {
        if (FiniRace_Setup() < 0) { /* set up on first use, while the runtime is whole */
            PyErr_Clear();
            return NULL;
        }
    }
    return finirace_acquire_() == 0 ? FINIRACE_GUARD_TOKEN_ : NULL;
}

static inline FiniRaceGuard *FiniRaceGuard_FromView(FiniRaceView *view)
{
    if (view == NULL) return NULL;
    return finirace_acquire_() == 0 ? FINIRACE_GUARD_TOKEN_ : NULL;
}

static inline void FiniRaceGuard_Close(FiniRaceGuard *guard)
{
    if (guard != NULL) finirace_release_();
}

static inline FiniRaceView *FiniRaceView_FromCurrent(void)
{
    if (FINIRACE_LOAD_(&finirace_state_.setup) != FINIRACE_SETUP_DONE_ && FiniRace_Setup() < 0) {
        PyErr_Clear();
        return NULL;
    }
    return FINIRACE_VIEW_TOKEN_;
}

/* A view keeps nothing alive; a guard from it is refused until FiniRace_Setup ran. */
static inline FiniRaceView *FiniRaceView_FromMain(void) { return FINIRACE_VIEW_TOKEN_; }
static inline void FiniRaceView_Close(FiniRaceView *view) { (void)view; }

static inline FiniRaceToken *finirace_token_(PyGILState_STATE s, int owns_guard)
{
    return (FiniRaceToken *)(void *)&finirace_tokens_[(s == PyGILState_UNLOCKED ? 1 : 0) + (owns_guard ? 2 : 0)];
}

/* Attach this thread (PyGILState_Ensure) under a guard the caller holds. */
static inline FiniRaceToken *FiniRace_Ensure(FiniRaceGuard *guard)
{
    PyGILState_STATE s;
    if (guard == NULL || finirace_enter_() < 0) return NULL;
    s = PyGILState_Ensure();
    finirace_entered_();
    return finirace_token_(s, 0);
}

/* Attach with a guard of its own, released by FiniRace_Release. */
static inline FiniRaceToken *FiniRace_EnsureFromView(FiniRaceView *view)
{
    PyGILState_STATE s;
    FiniRaceGuard *g = FiniRaceGuard_FromView(view);
    if (g == NULL) return NULL;
    if (finirace_enter_() < 0) {
        FiniRaceGuard_Close(g);
        return NULL;
    }
    s = PyGILState_Ensure();
    finirace_entered_();
    return finirace_token_(s, 1);
}

/* Detach (PyGILState_Release), with the GIL held; after a failed end on this thread
 * its state is gone: only the guard is let go. */
static inline void FiniRace_Release(FiniRaceToken *token)
{
    int i;
    if (token == NULL) return;
    i = (int)((char *)(void *)token - finirace_tokens_);
    if (!finirace_lost_) PyGILState_Release((i & 1) ? PyGILState_UNLOCKED : PyGILState_LOCKED);
    if (i & 2) finirace_release_();
}

/* Py_BEGIN_ALLOW_THREADS under a guard: its own, or one this thread already holds.
 * Refused, finalization having begun, in a thread that holds no guard: the GIL is
 * released all the same and "end" will fail (the thread must not come back: the
 * interpreter may be gone by then).  Refused otherwise (the finalizing thread itself,
 * or no setup): the GIL is kept and the blocking work runs with it, which is safe. */
static inline FiniRaceAllow FiniRace_BeginAllowThreads(void)
{
    FiniRaceAllow a;
    a.guarded = FiniRaceGuard_FromCurrent() != NULL;
    a.doomed = !a.guarded && finirace_held_here_ == 0 && finirace_late_thread_();
    a.tstate = (a.guarded || a.doomed || finirace_held_here_ > 0) ? PyEval_SaveThread() : NULL;
    return a;
}

/* Py_END_ALLOW_THREADS: 0 with the GIL held again, or -1 when finalization went on
 * while it was released (the thread is detached for good; touch no Python). */
static inline int FiniRace_EndAllowThreads(FiniRaceAllow *a)
{
    int rc = 0;
    if (a->tstate != NULL && a->doomed) {  /* no guard held it off: never take the GIL back */
        finirace_lost_ = 1;
        rc = -1;
    } else if (a->tstate != NULL) {
        if (finirace_enter_() == 0) {
            PyEval_RestoreThread(a->tstate);
            finirace_entered_();
        } else {
            finirace_lost_ = 1;
            rc = -1;
        }
        a->tstate = NULL;
    }
    if (a->guarded) finirace_release_();
    a->guarded = a->doomed = 0;
    a->tstate = NULL;
    return rc;
}

#endif /* PY_VERSION_HEX */

/* For a thread that cannot go back into the interpreter and has no C caller to return
 * to (a function called from Python whose end failed): block for ever, touching
 * nothing.  No unwinding, so no noexcept frame can call std::terminate; the process
 * ends it at exit.  What PyThread_hang_thread does on 3.14, without taking the GIL. */
static inline void FiniRace_ParkThread(void)
{
    for (;;) pause();
}

#define FINIRACE_BEGIN_ALLOW_THREADS { FiniRaceAllow finirace_allow_ = FiniRace_BeginAllowThreads();
#define FINIRACE_END_ALLOW_THREADS_OR(on_failure) \
    if (FiniRace_EndAllowThreads(&finirace_allow_) < 0) { on_failure; } }

#ifdef __cplusplus
}

namespace finirace {

/* pybind11's gil_scoped_release, made safe at exit.  The constructor releases the GIL
 * under a guard; restore() takes it back and says whether it could; the destructor
 * restores if nobody did, and when that fails (finalization went on meanwhile) it
 * parks the thread (FiniRace_ParkThread) instead of returning into code that would
 * touch the freed interpreter.  It never calls PyEval_RestoreThread after
 * finalization began, so pthread_exit never unwinds through the caller's frames:
 * on 3.9-3.13 that unwinding through a noexcept frame is std::terminate.  Parking is
 * safe because the thread holds no interpreter resource and touches no memory; the
 * process ends it at exit.  It can keep a process from exiting only if something
 * joins this thread or waits for a lock it holds: call restore() and handle false to
 * unlock and return instead (the destructor then does nothing). */
class gil_scoped_release {
public:
    gil_scoped_release() noexcept : allow_(FiniRace_BeginAllowThreads()), done_(false), ok_(true) {}
    gil_scoped_release(const gil_scoped_release &) = delete;
    gil_scoped_release &operator=(const gil_scoped_release &) = delete;
    bool restore() noexcept
    {
        if (!done_) {
            done_ = true;
            ok_ = FiniRace_EndAllowThreads(&allow_) == 0;
        }
        return ok_;
    }
    ~gil_scoped_release()
    {
        if (!done_ && !restore()) FiniRace_ParkThread(); /* a failed restore() was handled */
    }

private:
    FiniRaceAllow allow_;
    bool done_;
    bool ok_;
};

/* For foreign threads: attach (guard included) for the scope; ok() is false when the
 * interpreter is finalizing or gone, and then nothing may touch Python. */
class gil_scoped_acquire {
public:
    gil_scoped_acquire() noexcept
    {
        FiniRaceView *view = FiniRaceView_FromMain();
        token_ = FiniRace_EnsureFromView(view);
        FiniRaceView_Close(view);
    }
    gil_scoped_acquire(const gil_scoped_acquire &) = delete;
    gil_scoped_acquire &operator=(const gil_scoped_acquire &) = delete;
    bool ok() const noexcept { return token_ != nullptr; }
    ~gil_scoped_acquire() { FiniRace_Release(token_); }

private:
    FiniRaceToken *token_;
};

} /* namespace finirace */
#endif /* __cplusplus */

#endif /* FINIRACE_GUARD_H */
