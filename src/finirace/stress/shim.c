/* finirace stress shim, preloaded into the target (LD_PRELOAD).
 *
 * 1. Native delays (FINIRACE_NATIVE_DELAY_US > 0): before a condition-variable
 *    wait or a mutex lock, sometimes sleep a random few microseconds.  The GIL
 *    is a mutex and a condition variable, so this moves the points where a
 *    thread asks for the GIL back relative to finalization.
 * 2. Crash backtrace (FINIRACE_CRASH_BACKTRACE=1): on SIGSEGV, SIGBUS, SIGILL,
 *    SIGFPE and SIGABRT print the faulting thread's native frames to stderr
 *    between markers, then die of the same signal.  faulthandler restores our
 *    handler and re-raises after its own dump, so both are printed.
 *
 * Random state is per thread and seeded from FINIRACE_SEED, so delays are
 * replayable as far as the scheduler allows.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int (*real_cond_wait)(pthread_cond_t *, pthread_mutex_t *);
static int (*real_cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
static int (*real_mutex_lock)(pthread_mutex_t *);
static long delay_us;
static unsigned long seed;
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

static void write_str(const char *s) { ssize_t n = write(2, s, strlen(s)); (void)n; }

static void on_fatal(int sig) {
    void *frames[64];
    int n = backtrace(frames, 64);
    write_str("\n==finirace-native-backtrace==\n");
    backtrace_symbols_fd(frames, n, 2);
    write_str("==finirace-native-backtrace-end==\n");
    signal(sig, SIG_DFL);
    raise(sig);
}

__attribute__((constructor)) static void finirace_shim_init(void) {
    real_cond_wait = dlsym(RTLD_NEXT, "pthread_cond_wait");
    real_cond_timedwait = dlsym(RTLD_NEXT, "pthread_cond_timedwait");
    real_mutex_lock = dlsym(RTLD_NEXT, "pthread_mutex_lock");
    const char *d = getenv("FINIRACE_NATIVE_DELAY_US");
    delay_us = d ? atol(d) : 0;
    const char *s = getenv("FINIRACE_SEED");
    seed = s ? strtoul(s, NULL, 10) : 0;
    const char *bt = getenv("FINIRACE_CRASH_BACKTRACE");
    if (bt && bt[0] == '1') {
        void *warm[2];
        backtrace(warm, 2); /* loads libgcc now, not inside the handler */
        int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_fatal;
            sa.sa_flags = SA_NODEFER | SA_RESETHAND | SA_ONSTACK;
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
    return real_cond_timedwait(c, m, t);
}

int pthread_mutex_lock(pthread_mutex_t *m) {
    if (!real_mutex_lock) real_mutex_lock = dlsym(RTLD_NEXT, "pthread_mutex_lock");
    maybe_delay();
    return real_mutex_lock(m);
}
