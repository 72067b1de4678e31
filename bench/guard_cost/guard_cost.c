/* The guard helper's cost against the CPython calls it wraps, measured in one process.
 * A foreign thread (no thread state of its own) attaches and detaches in a loop:
 * PyGILState_Ensure/Release against FiniRace_EnsureFromView/Release, and a guard
 * acquire+release (FiniRaceGuard_FromView + Close) against the same pair.  The main
 * thread releases and retakes the GIL in a loop: Py_BEGIN/END_ALLOW_THREADS against
 * FiniRace_BeginAllowThreads/EndAllowThreads.  Rounds alternate baseline and helper;
 * each prints its best round in ns per pair. */
#include "finirace_guard.h"
#include <pthread.h>

static long rounds = 15, iters = 20000;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static double gilstate(void)
{
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        PyGILState_STATE s = PyGILState_Ensure();
        PyGILState_Release(s);
    }
    return (now() - t0) / iters;
}

static double attach(void)
{
    FiniRaceView *view = FiniRaceView_FromMain();
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        FiniRaceToken *t = FiniRace_EnsureFromView(view);
        FiniRace_Release(t);
    }
    FiniRaceView_Close(view);
    return (now() - t0) / iters;
}

static double guard(void)
{
    FiniRaceView *view = FiniRaceView_FromMain();
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        FiniRaceGuard *g = FiniRaceGuard_FromView(view);
        FiniRaceGuard_Close(g);
    }
    FiniRaceView_Close(view);
    return (now() - t0) / iters;
}

static double best[5];

static void *foreign(void *unused)
{
    (void)unused;
    for (long r = 0; r < rounds; r++) {
        double a = gilstate(), b = attach(), c = guard();
        if (r == 0 || a < best[0]) best[0] = a;
        if (r == 0 || b < best[1]) best[1] = b;
        if (r == 0 || c < best[2]) best[2] = c;
    }
    return NULL;
}

static double allow_plain(void)
{
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        Py_BEGIN_ALLOW_THREADS
        Py_END_ALLOW_THREADS
    }
    return (now() - t0) / iters;
}

static double allow_guarded(void)
{
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        FINIRACE_BEGIN_ALLOW_THREADS
        FINIRACE_END_ALLOW_THREADS_OR(abort())
    }
    return (now() - t0) / iters;
}

int main(int argc, char **argv)
{
    pthread_t th;
    const char *home = getenv("FINIRACE_PYTHONHOME");
    if (argc > 1) rounds = atol(argv[1]);
    if (argc > 2) iters = atol(argv[2]);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    if (home && *home) Py_SetPythonHome(Py_DecodeLocale(home, NULL));
#pragma GCC diagnostic pop
    Py_Initialize();
    if (FiniRace_Setup() < 0) return 1;
    Py_BEGIN_ALLOW_THREADS
    pthread_create(&th, NULL, foreign, NULL);
    pthread_join(th, NULL);
    Py_END_ALLOW_THREADS
    for (long r = 0; r < rounds; r++) {
        double a = allow_plain(), b = allow_guarded();
        if (r == 0 || a < best[3]) best[3] = a;
        if (r == 0 || b < best[4]) best[4] = b;
    }
    printf("%.1f %.1f %.1f %.1f %.1f\n", best[0], best[1], best[2], best[3], best[4]);
    Py_FinalizeEx();
    return 0;
}
