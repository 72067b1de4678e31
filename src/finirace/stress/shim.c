/* finirace stress shim, preloaded into the target (LD_PRELOAD).
 *
 * 1. Native delays (FINIRACE_NATIVE_DELAY_US > 0): before a condition-variable
 *    wait or a mutex lock, sometimes sleep a random few microseconds.  The GIL
 *    is a mutex and a condition variable, so this moves the points where a
 *    thread asks for the GIL back relative to finalization.
 * 2. Crash backtrace (FINIRACE_CRASH_BACKTRACE=1): on SIGSEGV, SIGBUS, SIGILL,
 *    SIGFPE and SIGABRT print the faulting thread's native frames to stderr,
 *    one writev(2) a line, each line tagged with the thread's native id (so
 *    threads crashing together are told apart), then die of the same signal;
 *    the thread whose signal ends the process says so.  faulthandler
 *    restores our handler and re-raises after its own dump, so both are
 *    printed.
 *
 * 3. Exit window (FINIRACE_EXIT_WINDOW_MS > 0): holds the interpreter's
 *    threads back from the moment its exit begins until the process has
 *    finished finalizing, then lets them run while the process is kept alive.
 *    The sitecustomize marks "exit begins" by calling sched_yield() from the
 *    main thread as its last atexit handler (nothing else in CPython calls
 *    it).  From then on, a non-main thread that unlocks a mutex right after a
 *    condition wait timed out (take_gil giving up: the thread must exit; any
 *    other unlock may be one made while holding the GIL, and holding it there
 *    would stall the main thread instead) waits, bounded by the window, until
 *    our own atexit handler runs; that
 *    handler runs after Py_FinalizeEx returned, when the interpreter and the
 *    thread states are freed, and keeps the process alive (bounded) until the
 *    held threads have gone on.  The race this widens: a daemon thread that
 *    was waiting in take_gil when finalization began and leaves it after
 *    finalization freed what it still touches (3.10's RESET_GIL_DROP_REQUEST
 *    on the freed interpreter).  Without the window that needs the thread to
 *    be preempted for the whole of finalization at one exact instruction.
 *
 * 4. Contention (FINIRACE_PIN_CPU=N, FINIRACE_HOG_THREADS=K, FINIRACE_HOG_MS=M):
 *    the constructor pins the process to CPU N before any thread exists, so
 *    every thread of the target shares that core, as on a loaded machine; at
 *    the exit mark K native threads (no Python, no lock) spin on it for M ms,
 *    so the interpreter's threads are preempted while finalization runs.
 *
 * Random state is per thread and seeded from FINIRACE_SEED, so delays are
 * replayable as far as the scheduler allows.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unwind.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static int (*real_cond_wait)(pthread_cond_t *, pthread_mutex_t *);
static int (*real_cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
static int (*real_mutex_lock)(pthread_mutex_t *);
static int (*real_mutex_unlock)(pthread_mutex_t *);
static int (*real_sched_yield)(void);
static long delay_us;
static long exit_window_us;
static int exiting;  /* the main thread's exit has begun (sched_yield mark) */
static int finalized; /* our atexit handler runs: Py_FinalizeEx has returned */
static int held;      /* threads being held back now */
static __thread int after_timeout; /* this thread's last wait timed out, nothing locked since */
static unsigned long seed;
static int hog_threads;  /* threads spinning from the exit mark (contention) */
static long hog_us;
static int hogs_started;
static __thread unsigned int rstate;
static __thread int rinit;

static void maybe_delay(void) {
    if (delay_us <= 0) return;
    if (!rinit) { rstate = (unsigned int)(seed ^ (unsigned long)pthread_self()); rinit = 1; }
    unsigned int r = rand_r(&rstate);
    if (r % 8 != 0) return; /* one call in eight */
    struct timespec ts = {0, (long)(rand_r(&rstate) % (unsigned int)delay_us) * 1000L};
    nanosleep(&ts, NULL);
}

static int is_main_thread(void) { return syscall(SYS_gettid) == getpid(); }

static void nap_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

/* Hold a non-main thread back until finalization is over (bounded). */
static void exit_window_hold(void) {
    if (!__atomic_load_n(&exiting, __ATOMIC_ACQUIRE) || __atomic_load_n(&finalized, __ATOMIC_ACQUIRE)) return;
    if (is_main_thread()) return;
    __atomic_add_fetch(&held, 1, __ATOMIC_ACQ_REL);
    for (long waited = 0; waited < exit_window_us && !__atomic_load_n(&finalized, __ATOMIC_ACQUIRE); waited += 50)
        nap_us(50);
    __atomic_sub_fetch(&held, 1, __ATOMIC_ACQ_REL);
}

/* Runs after Py_FinalizeEx (registered first, so it runs last): release the held threads, stay alive for them. */
static void exit_window_release(void) {
    if (!__atomic_load_n(&exiting, __ATOMIC_ACQUIRE)) return;
    __atomic_store_n(&finalized, 1, __ATOMIC_RELEASE);
    for (long waited = 0; waited < exit_window_us && __atomic_load_n(&held, __ATOMIC_ACQUIRE) > 0; waited += 50)
        nap_us(50);
    nap_us(200); /* the released threads' next few instructions */
}

static long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000L + ts.tv_nsec / 1000L;
}

/* A hog: spin on this (pinned) CPU for hog_us, touching nothing of the target. */
static void *hog(void *arg) {
    (void)arg;
    long end = now_us() + hog_us;
    while (now_us() < end) { }
    return NULL;
}

static void start_hogs(void) {
    if (hog_threads <= 0 || __atomic_exchange_n(&hogs_started, 1, __ATOMIC_ACQ_REL)) return;
    for (int i = 0; i < hog_threads; i++) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        if (pthread_create(&t, &attr, hog, NULL) != 0) break;
        pthread_attr_destroy(&attr);
    }
}

/* One line of the crash backtrace, gathered as pieces and written with one
 * writev(2) (no buffer: this runs on whatever signal stack the thread has,
 * perhaps faulthandler's small alternate one): a line (under PIPE_BUF bytes)
 * from one thread is never cut by another's, whoever else writes to stderr
 * at that moment (a second thread crashing, faulthandler, the C++ runtime).
 * Every line starts with the tag and the thread's native id,
 * "==finirace-bt== T<tid> ", so the lines of threads that crash together
 * can be told apart and grouped back, and can be cut out of the text around
 * them (no newline is written before the tag: cutting the tagged line out
 * restores another writer's line that it landed in the middle of). */
#define LINE_PIECES 16
#define LINE_NUMBERS 5
struct line {
    struct iovec iov[LINE_PIECES];
    int n;
    char numbers[LINE_NUMBERS][24];
    int k;
};

static void put(struct line *l, const char *s) {
    if (l->n >= LINE_PIECES - 1) return; /* the last piece is kept for the newline */
    l->iov[l->n].iov_base = (void *)s;
    l->iov[l->n++].iov_len = strlen(s);
}

static void put_hex(struct line *l, unsigned long v) {
    if (l->k >= LINE_NUMBERS) return;
    char *buf = l->numbers[l->k++];
    char digits[16];
    int n = 0, i = 0;
    do { digits[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v && n < 16);
    buf[i++] = '0';
    buf[i++] = 'x';
    while (n > 0) buf[i++] = digits[--n];
    buf[i] = 0;
    put(l, buf);
}

static void put_dec(struct line *l, long v) {
    if (l->k >= LINE_NUMBERS) return;
    char *buf = l->numbers[l->k++];
    char digits[22];
    int n = 0, i = 0;
    if (v < 0) { buf[i++] = '-'; v = -v; }
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v && n < 20);
    while (n > 0) buf[i++] = digits[--n];
    buf[i] = 0;
    put(l, buf);
}

static void line_start(struct line *l, long tid) {
    l->n = l->k = 0;
    put(l, "==finirace-bt== T");
    put_dec(l, tid);
    put(l, " ");
}

static void line_write(struct line *l) {
    l->iov[l->n].iov_base = (void *)"\n";
    l->iov[l->n++].iov_len = 1;
    ssize_t w = writev(2, l->iov, l->n);
    (void)w;
}

/* The faulting thread's return addresses, by the unwinder linked into this
 * shim (-static-libgcc): glibc's backtrace() would dlopen libgcc_s on first
 * use, which is not safe in a signal handler and, done ahead of time in every
 * target process, costs more than the rest of the shim.  A frame a signal
 * interrupted is one the unwinder reports with ip_before_insn set (its
 * address is the faulting instruction, not a return address); the frames
 * inside the last such frame are signal handling (this handler, faulthandler's,
 * the kernel's trampolines) and are not printed. */
struct unwind_state { void **frames; int *exact; int n, max; };

static _Unwind_Reason_Code unwind_one(struct _Unwind_Context *ctx, void *arg) {
    struct unwind_state *st = arg;
    if (st->n >= st->max) return _URC_END_OF_STACK;
    int before = 0;
    st->frames[st->n] = (void *)_Unwind_GetIPInfo(ctx, &before);
    st->exact[st->n++] = before;
    return _URC_NO_REASON;
}

/* One line a frame: "frame ADDR pc|ra OFFSET LIBRARY\tSYMBOL+OFF", the
 * offset from the library's start (dladdr's dli_fbase), and dladdr's name,
 * which is only the nearest exported symbol: finirace names the frame from
 * the library's own symbol tables and keeps this one as a last resort. */
static void write_frame(long tid, void *ip, int exact) {
    struct line l;
    Dl_info info;
    memset(&info, 0, sizeof info);
    line_start(&l, tid);
    put(&l, "frame ");
    put_hex(&l, (unsigned long)ip);
    put(&l, exact ? " pc " : " ra ");
    if (dladdr(ip, &info) && info.dli_fname) {
        put_hex(&l, (unsigned long)ip - (unsigned long)info.dli_fbase);
        put(&l, " ");
        put(&l, info.dli_fname);
        if (info.dli_sname) {
            put(&l, "\t");
            put(&l, info.dli_sname);
            put(&l, "+");
            put_hex(&l, (unsigned long)ip - (unsigned long)info.dli_saddr);
        }
    } else {
        put(&l, "- ?");
    }
    line_write(&l);
}

static void write_event(long tid, const char *what, int sig) {
    struct line l;
    line_start(&l, tid);
    put(&l, what);
    if (sig) {
        put(&l, " ");
        put_dec(&l, sig);
    }
    line_write(&l);
}

/* Threads that crash at nearly the same moment (two daemon threads
 * aborting in one finalization) each print their own stack.  The first
 * one in owns the process's end: once its own stack is out it waits a
 * short grace for others to come in, and (bounded) for those printing to
 * finish, says "ends SIG", and dies of its own signal; the others wait for
 * that (and so does a main thread that reaches exit() meanwhile:
 * wait_for_crash).  The grace stays short: a moment the end is put off is
 * one in which a process leaving by _exit (or already past the atexit
 * handlers) may exit 0 and the crash be lost.  A thread that faults again
 * inside this handler (the unwinder on a corrupt stack) dies of it at once. */
#define FATAL_WAIT_US 100000L  /* the owner's longest wait for threads printing */
#define FATAL_GRACE_US 5000L   /* and how long it always waits for others to come in */
static long fatal_owner;       /* native id of the thread whose signal ends the process, 0 until one crashes */
static int fatal_printing;     /* threads printing their backtrace now */
static __thread int fatal_here; /* this thread is inside on_fatal */

static void die_of(int sig) {
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_fatal(int sig) {
    if (fatal_here) { die_of(sig); return; }
    fatal_here = 1;
    long tid = (long)syscall(SYS_gettid);
    long none = 0;
    int owner = __atomic_compare_exchange_n(&fatal_owner, &none, tid, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    __atomic_add_fetch(&fatal_printing, 1, __ATOMIC_ACQ_REL);
    void *frames[96];
    int exact[96];
    struct unwind_state st = {frames, exact, 0, 96};
    _Unwind_Backtrace(unwind_one, &st);
    /* the last interrupted frame: faulthandler's handler, which re-raised
     * the signal to us, lies between its trampoline and ours */
    int first = 0;
    for (int i = 0; i < st.n; i++)
        if (exact[i]) first = i;
    write_event(tid, "signal", sig);
    for (int i = first; i < st.n; i++) write_frame(tid, frames[i], exact[i]);
    write_event(tid, "end", 0);
    __atomic_sub_fetch(&fatal_printing, 1, __ATOMIC_ACQ_REL);
    if (!owner)
        for (;;) pause();
    long start = now_us();
    for (;;) {
        long waited = now_us() - start;
        if (waited >= FATAL_WAIT_US) break;
        if (waited >= FATAL_GRACE_US && __atomic_load_n(&fatal_printing, __ATOMIC_ACQUIRE) == 0) break;
        nap_us(100);
    }
    write_event(tid, "ends", sig);
    die_of(sig);
}

/* Registered first at load, so it runs last of the C atexit handlers
 * (after exit_window_release, which keeps the process alive while threads
 * held at exit go on and die): a main thread that reaches the end of exit()
 * while another thread is inside on_fatal (a daemon thread aborting after
 * finalization) waits, bounded, for that thread to end the process with its
 * signal.  Without it the process could exit 0 while the crash was being
 * printed, and the crash would be lost. */
static void wait_for_crash(void) {
    if (!__atomic_load_n(&fatal_owner, __ATOMIC_ACQUIRE) || fatal_here) return;
    for (long waited = 0; waited < 2 * FATAL_WAIT_US; waited += 1000) nap_us(1000);
}

/* The settings a run's environment gives (exit window, native delays, seed,
 * CPU pin, hog threads): read at load, and again by
 * finirace_shim_reconfigure() in a child that the pytest plugin forks from a
 * warm process, whose environment was set for that run after the load. */
static int release_registered;

static void configure(void) {
    const char *w = getenv("FINIRACE_EXIT_WINDOW_MS");
    exit_window_us = w ? atol(w) * 1000L : 0;
    if (exit_window_us > 0 && !release_registered) {
        atexit(exit_window_release);
        release_registered = 1;
    }
    const char *d = getenv("FINIRACE_NATIVE_DELAY_US");
    delay_us = d ? atol(d) : 0;
    const char *s = getenv("FINIRACE_SEED");
    seed = s ? strtoul(s, NULL, 10) : 0;
    const char *pin = getenv("FINIRACE_PIN_CPU");
    if (pin && pin[0]) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(atoi(pin), &set);
        sched_setaffinity(0, sizeof set, &set); /* no thread exists yet: every one to come inherits it */
    }
    const char *hn = getenv("FINIRACE_HOG_THREADS");
    const char *hm = getenv("FINIRACE_HOG_MS");
    hog_threads = hn ? atoi(hn) : 0;
    hog_us = hm ? atol(hm) * 1000L : 0;
}

/* Called (through ctypes) in a freshly forked child, its environment set for its run. */
__attribute__((visibility("default"))) void finirace_shim_reconfigure(void) {
    configure();
    rinit = 0; /* this thread's delays draw from the new seed */
}

__attribute__((constructor)) static void finirace_shim_init(void) {
    real_cond_wait = dlsym(RTLD_NEXT, "pthread_cond_wait");
    real_cond_timedwait = dlsym(RTLD_NEXT, "pthread_cond_timedwait");
    real_mutex_lock = dlsym(RTLD_NEXT, "pthread_mutex_lock");
    real_mutex_unlock = dlsym(RTLD_NEXT, "pthread_mutex_unlock");
    real_sched_yield = dlsym(RTLD_NEXT, "sched_yield");
    const char *bt = getenv("FINIRACE_CRASH_BACKTRACE");
    if (bt && bt[0] == '1')
        atexit(wait_for_crash); /* before configure() registers exit_window_release: runs after it */
    configure();
    if (bt && bt[0] == '1') {
        int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_fatal;
            sa.sa_flags = SA_NODEFER | SA_ONSTACK;
            sigaction(sigs[i], &sa, NULL);
        }
    }
}

int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) {
    maybe_delay();
    return real_cond_wait(c, m);
}

int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t) {
    maybe_delay();
    int r = real_cond_timedwait(c, m, t);
    after_timeout = r == ETIMEDOUT;
    return r;
}

int pthread_mutex_lock(pthread_mutex_t *m) {
    if (!real_mutex_lock) real_mutex_lock = dlsym(RTLD_NEXT, "pthread_mutex_lock");
    after_timeout = 0;
    maybe_delay();
    return real_mutex_lock(m);
}

int pthread_mutex_unlock(pthread_mutex_t *m) {
    if (!real_mutex_unlock) real_mutex_unlock = dlsym(RTLD_NEXT, "pthread_mutex_unlock");
    int r = real_mutex_unlock(m);
    if (after_timeout) {
        after_timeout = 0;
        if (exit_window_us > 0) exit_window_hold();
    }
    return r;
}

int sched_yield(void) {
    if (!real_sched_yield) real_sched_yield = dlsym(RTLD_NEXT, "sched_yield");
    if (is_main_thread()) {
        if (exit_window_us > 0) __atomic_store_n(&exiting, 1, __ATOMIC_RELEASE);
        start_hogs();
    }
    return real_sched_yield();
}
