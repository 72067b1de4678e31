/* The finirace lab prelude (finirace/lab/prelude.c): step markers, event pipes, settling. */
#include <Python.h>
#include <pthread.h>
#include <dirent.h>
#include <errno.h>
#include <sys/syscall.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FR_UNUSED __attribute__((unused))
static int fr_marker_fd = -1;
static long fr_progress;  /* markers written so far (atomic) */
static int fr_alive;      /* threads started and not ended (atomic) */
static pthread_key_t fr_end_key;
static PyInterpreterState *fr_interp; /* the interpreter made by init; stale after finalize, on purpose */

/* One marker line, written with a single write(2): never interleaved, kept if we crash. */
static void fr_mark(int thread, int step, char phase)
{
    char buf[96];
    struct timespec now;
    int n;
    __atomic_add_fetch(&fr_progress, 1, __ATOMIC_SEQ_CST);
    if (fr_marker_fd < 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    n = snprintf(buf, sizeof buf, "M %lld %d %d %c\n",
                 (long long)now.tv_sec * 1000000000LL + now.tv_nsec, thread, step, phase);
    if (n > 0 && write(fr_marker_fd, buf, (size_t)n) < 0) { /* nothing to do */ }
}

/* Runs when a thread ends, by return or by pthread_exit inside the runtime. */
static void fr_on_end(void *value)
{
    int thread = (int)(long)value - 1;
    fr_mark(thread, -1, 'E');
    __atomic_sub_fetch(&fr_alive, 1, __ATOMIC_SEQ_CST);
}

static __thread int fr_self; /* this thread's index in the scenario (fr_sub's slot) */

static void fr_begin(int thread)
{
    fr_self = thread;
    pthread_setspecific(fr_end_key, (void *)(long)(thread + 1));
    fr_mark(thread, -1, 'S');
}

static void fr_die(const char *what)
{
    perror(what);
    _exit(97);
}

static FR_UNUSED void fr_read_byte(int fd)
{
    char c;
    for (;;) {
        ssize_t n = read(fd, &c, 1);
        if (n == 1) return;
        if (n < 0 && errno == EINTR) continue;
        fr_die("finirace: event pipe");
    }
}

static FR_UNUSED void fr_write_bytes(int fd, int count)
{
    char c = 'x';
    while (count-- > 0)
        while (write(fd, &c, 1) != 1)
            if (errno != EINTR) fr_die("finirace: event pipe");
}

static long long fr_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000LL + now.tv_nsec / 1000000;
}

/* Whether another thread of this process is running or runnable ('R' in /proc):
 * one that is only waiting for a CPU has not settled yet. */
static int fr_others_running(void)
{
    char path[64], buf[512];
    long self = (long)syscall(SYS_gettid);
    DIR *dir = opendir("/proc/self/task");
    struct dirent *ent;
    int running = 0;
    if (dir == NULL)
        return 0;
    while (!running && (ent = readdir(dir)) != NULL) {
        long tid = atol(ent->d_name);
        int fd;
        ssize_t n;
        char *close_paren;
        if (tid <= 0 || tid == self)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        close_paren = strrchr(buf, ')');
        if (close_paren && close_paren[1] == ' ' && close_paren[2] == 'R')
            running = 1;
    }
    closedir(dir);
    return running;
}

/* After main's steps: wait until every thread ended, or nothing moved for settle
 * ms while no other thread was running (bounded: 20 settle windows at most). */
static FR_UNUSED void fr_settle(void)
{
    const char *env = getenv("FINIRACE_SETTLE_MS");
    long long settle = env ? atoll(env) : SETTLE_DEFAULT;
    long last = __atomic_load_n(&fr_progress, __ATOMIC_SEQ_CST);
    long long start = fr_now_ms();
    long long since = start;
    struct timespec tick = {0, 1000000};
    while (__atomic_load_n(&fr_alive, __ATOMIC_SEQ_CST) > 0) {
        long now = __atomic_load_n(&fr_progress, __ATOMIC_SEQ_CST);
        if (now != last) {
            last = now;
            since = fr_now_ms();
        } else if (fr_now_ms() - since >= settle) {
            if (!fr_others_running() || fr_now_ms() - start >= 20 * settle)
                return;
            since = fr_now_ms();
        }
        nanosleep(&tick, NULL);
    }
}

/* Under gdb: stop once settled with threads still blocked, so their stacks can be printed. */
static FR_UNUSED void fr_stop_if_blocked(void)
{
    const char *env = getenv("FINIRACE_STOP_IF_BLOCKED");
    if (env && *env == '1' && __atomic_load_n(&fr_alive, __ATOMIC_SEQ_CST) > 0) {
        fr_mark(0, -1, 'H');
        raise(SIGTRAP);
    }
}

/* Where the stdlib is (FINIRACE_PYTHONHOME): set for the program alone, so a gdb or
 * valgrind wrapping it keeps its own Python.  Unset: the build's own prefix. */
static FR_UNUSED void fr_set_home(void)
{
    static wchar_t *home;
    const char *env = getenv("FINIRACE_PYTHONHOME");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    if (env && *env && home == NULL && (home = Py_DecodeLocale(env, NULL)) != NULL)
        Py_SetPythonHome(home);
#pragma GCC diagnostic pop
}

/* PyEval_InitThreads: makes the GIL in 3.6 (whose Py_Initialize makes none); a no-op, and
 * deprecated, from 3.9 on. */
static FR_UNUSED void fr_init_threads(void)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    PyEval_InitThreads();
#pragma GCC diagnostic pop
}

/* Sub-interpreters.  new_interp: Py_NewInterpreter(), its interpreter kept in *slot (the
 * program's fr_sub[thread], for other threads' PyThreadState_New) and the state it replaced
 * in fr_outer.  end_interp: Py_EndInterpreter(ts), then PyThreadState_Swap back to fr_outer
 * (3.12+ takes the GIL there). */
static __thread PyThreadState *fr_outer;

static FR_UNUSED PyThreadState *fr_new_interp(PyInterpreterState **slot)
{
    PyThreadState *ts;
    fr_outer = _PyThreadState_UncheckedGet();
    ts = Py_NewInterpreter();
    *slot = ts != NULL ? ts->interp : NULL;
    return ts;
}

static FR_UNUSED PyThreadState *fr_end_interp(PyThreadState *ts)
{
    Py_EndInterpreter(ts);
    PyThreadState_Swap(fr_outer);
    return fr_outer;
}

static void fr_setup(void)
{
    const char *path = getenv("FINIRACE_MARKERS");
    if (path && *path) {
        fr_marker_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fr_marker_fd < 0) fr_die("finirace: markers file");
    }
    if (pthread_key_create(&fr_end_key, fr_on_end) != 0) fr_die("finirace: pthread_key_create");
}

/* Exact schedules under valgrind (finirace/lab/exact.py): valgrind's gdbserver resumes every
 * thread on continue, so gdb holds a thread by parking it here, its registers saved by gdb
 * and restored at fr_park_exit once it is let go.  Never called by the program itself. */
static volatile int fr_unpark[64];
static FR_UNUSED __attribute__((noinline, used)) void fr_park_exit(void)
{
    __asm__ volatile("" ::: "memory");
}

static FR_UNUSED __attribute__((noinline, used)) void fr_park(long slot)
{
    struct timespec tick = {0, 1000000};
    while (!__atomic_load_n(&fr_unpark[slot], __ATOMIC_SEQ_CST))
        nanosleep(&tick, NULL);
    fr_park_exit();
    for (;;)
        pause(); /* not reached: gdb puts the thread back where it was parked */
}
