/* The guard helper on a real interpreter: one program, one mode per argv[1]
 * (after CPython's Programs/_testembed.c).  Built as C++ so the RAII classes and a
 * noexcept frame can be tried; the C API parts are plain C.  Ordered by pipes. */
#include "finirace_guard.h"
#include <pthread.h>
#include <string.h>

static int finalized[2];  /* main -> worker: Py_FinalizeEx returned */
static int ready[2];      /* worker -> main */

static void put(int fd) { char c = 'x'; if (write(fd, &c, 1) != 1) _exit(90); }
static void get(int fd) { char c; if (read(fd, &c, 1) != 1) _exit(91); }
static void say(const char *s) { printf("%s\n", s); fflush(stdout); }

static void set_home(void)
{
    const char *env = getenv("FINIRACE_PYTHONHOME");
    static wchar_t *home;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    if (env && *env && (home = Py_DecodeLocale(env, NULL)) != NULL) Py_SetPythonHome(home);
#pragma GCC diagnostic pop
}

/* A foreign thread attaches after Py_Finalize: refused, nothing touched. */
static void *late_attach(void *)
{
    get(finalized[0]);
    FiniRaceView *view = FiniRaceView_FromMain();
    FiniRaceToken *t = FiniRace_EnsureFromView(view);
    FiniRaceView_Close(view);
    if (t == NULL) { say("late attach refused"); return NULL; }
    PyRun_SimpleString("print('late attach ran')");
    FiniRace_Release(t);
    return NULL;
}

/* Holds a guard across the start of finalization: finalization waits for it. */
static void *holder(void *)
{
    FiniRaceView *view = FiniRaceView_FromMain();
    FiniRaceGuard *g = FiniRaceGuard_FromView(view);
    if (g == NULL) { say("guard refused"); put(ready[1]); return NULL; }
    put(ready[1]);
    for (;;) {  /* until the gate is closed: main is inside the atexit wait */
        FiniRaceGuard *probe = FiniRaceGuard_FromView(view);
        if (probe == NULL) break;
        FiniRaceGuard_Close(probe);
        usleep(1000);
    }
    say("gate closed");
    FiniRaceToken *t = FiniRace_Ensure(g);  /* still allowed: our guard holds it off */
    if (t == NULL) { say("attach under guard refused"); return NULL; }
    PyRun_SimpleString("print('worker ran Python during the wait', flush=True)");
    FiniRace_Release(t);
    FiniRaceGuard_Close(g);
    FiniRaceView_Close(view);
    return NULL;
}

/* Attached, releases the GIL, wakes only after Py_FinalizeEx returned (the bound ran out). */
static void *sleeper(void *)
{
    FiniRaceView *view = FiniRaceView_FromMain();
    FiniRaceToken *t = FiniRace_EnsureFromView(view);
    FiniRaceView_Close(view);
    if (t == NULL) { say("attach refused"); put(ready[1]); return NULL; }
    FiniRaceAllow a = FiniRace_BeginAllowThreads();
    put(ready[1]);
    get(finalized[0]);
    if (FiniRace_EndAllowThreads(&a) < 0) say("end failed: detached for good");
    else say("end took the GIL back");
    FiniRace_Release(t);
    return NULL;
}

/* The same in C++: RAII, the restore inside a noexcept frame (pybind11's destructor). */
static void *raii(void *)
{
    finirace::gil_scoped_acquire attached;
    if (!attached.ok()) { say("attach refused"); put(ready[1]); return NULL; }
    [&]() noexcept {
        finirace::gil_scoped_release released;
        put(ready[1]);
        get(finalized[0]);
        say(released.restore() ? "restored" : "restore failed: detached for good");
    }();
    return NULL;
}

/* The RAII destructor itself finds finalization went on: the thread parks. */
static void *park(void *)
{
    finirace::gil_scoped_acquire attached;
    if (!attached.ok()) { put(ready[1]); return NULL; }
    [&]() noexcept {
        finirace::gil_scoped_release released;
        put(ready[1]);
        get(finalized[0]);
        say("leaving the scope");
    }();
    say("returned after the scope (wrong)");
    return NULL;
}

/* Unguarded pybind11-style: PyEval_RestoreThread in a noexcept frame after finalization. */
static void *unguarded(void *)
{
    PyGILState_STATE s = PyGILState_Ensure();
    PyThreadState *ts = PyEval_SaveThread();
    put(ready[1]);
    get(finalized[0]);
    [&]() noexcept { PyEval_RestoreThread(ts); }();
    PyGILState_Release(s);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    void *(*fn)(void *) = NULL;
    pthread_t th;
    int join = 1;
    if (!strcmp(mode, "late-attach")) fn = late_attach;
    else if (!strcmp(mode, "wait")) fn = holder;
    else if (!strcmp(mode, "timeout")) fn = sleeper;
    else if (!strcmp(mode, "raii")) fn = raii;
    else if (!strcmp(mode, "park")) { fn = park; join = 0; }
    else if (!strcmp(mode, "unguarded")) fn = unguarded;
    else { fprintf(stderr, "usage: %s late-attach|wait|timeout|raii|park|unguarded\n", argv[0]); return 2; }
    if (pipe(finalized) || pipe(ready)) return 3;
    set_home();
    Py_Initialize();
    if (FiniRace_Setup() < 0) { PyErr_Print(); return 4; }
    PyThreadState *main_ts = PyEval_SaveThread();
    pthread_create(&th, NULL, fn, NULL);
    if (fn != late_attach) get(ready[0]);
    PyEval_RestoreThread(main_ts);
    Py_FinalizeEx();
    say("finalized");
    put(finalized[1]);
    if (join) pthread_join(th, NULL);
    else usleep(300 * 1000);  /* the parked thread stays; the process exits anyway */
    FiniRaceGuard *g = FiniRaceGuard_FromView(FiniRaceView_FromMain());
    say(g ? "guard after exit: held (wrong)" : "guard after exit: refused");
    return 0;
}
