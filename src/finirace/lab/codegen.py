"""From a scenario to one readable C (or C++) program that embeds Python.

Why generated code and not a driver library: a reproducer has to stand on its
own in a bug report (``--emit-c``), so every program carries all it needs and
each step is commented with its scenario line.  Shape, after CPython's
``Programs/_testembed.c``: one pthread per scenario thread, one function per
thread, one statement per step.

How ordering works, with no sleep anywhere:

* ``signal E`` writes one byte per waiter of E into E's pipe; ``wait E`` and
  ``block until E`` read one byte from it.  A bare ``block`` stands for a
  blocking call that returns at once: it generates no call.
* Every step is wrapped by two *markers* (``b`` before, ``a`` after) written
  with ``write(2)`` to the file named by ``FINIRACE_MARKERS``; a thread also
  marks its start (``S``), the end of its steps (``F``) and its end (``E``,
  from a thread-specific-data destructor, which runs on a plain return and on
  ``pthread_exit`` alike).  A ``b`` without its ``a`` tells which call a
  thread was inside when the run crashed, hung or was killed.
* When ``main`` has run its steps it *settles*: it waits until every other
  thread has ended, or until no marker has been written for
  ``FINIRACE_SETTLE_MS`` milliseconds while no other thread is running or
  runnable in ``/proc/self/task`` (those threads are blocked for good: hung
  inside the runtime, or deadlocked); 20 windows at most, so a thread that
  spins for ever cannot hold the process.  That makes a thread killed by
  ``pthread_exit`` after ``main`` finished show as ``exited`` every time
  instead of racing with process exit.
* Extra :class:`Ordering` edges (from an explorer schedule) are pipes too.

``guard``/``unguard`` (PEP 788) do not exist before 3.15: they generate a
comment and no call.  ``noexcept`` steps make the program C++ (built with
``g++``), the call made inside a ``noexcept`` lambda, so ``pthread_exit``
unwinding through it calls ``std::terminate`` as it does in pybind11 code.
Python code is emitted as a C string literal with every byte outside plain
printable ASCII (and ``"``, ``\\``, ``?``) escaped in octal, so no scenario text
can break out of the literal; comments drop ``*/`` and control characters.
"""

from __future__ import annotations

from dataclasses import dataclass

from finirace.outcome import StepRef
from finirace.scenario.format import Scenario, Step

MARKERS_ENV = "FINIRACE_MARKERS"
SETTLE_ENV = "FINIRACE_SETTLE_MS"
DEFAULT_SETTLE_MS = 100

# phases of a marker line: "M <ns> <thread> <step> <phase>"
BEFORE, AFTER, START, DONE, END = "b", "a", "S", "F", "E"


@dataclass(frozen=True)
class Ordering:
    """An extra edge: ``then`` starts only once ``first`` has begun (or, with ``done``, returned)."""

    first: StepRef
    then: StepRef
    done: bool = True


@dataclass(frozen=True)
class Program:
    """A generated program: its source, its language and how its lines map to steps."""

    scenario: str
    language: str  # "c" or "c++"
    source: str
    threads: tuple[str, ...]  # marker thread index -> name
    steps: tuple[tuple[StepRef, ...], ...]  # [thread][step index]
    kinds: tuple[tuple[str, ...], ...]  # the step kind of each, same shape
    step_lines: tuple[tuple[int, StepRef], ...] = ()  # 1-based source line of each step's call

    @property
    def suffix(self) -> str:
        return ".cpp" if self.language == "c++" else ".c"

    def step_at_line(self, line: int) -> StepRef | None:
        """The step whose generated code holds or precedes ``line`` (for compile errors)."""
        best = None
        for ln, ref in self.step_lines:
            if ln <= line:
                best = ref
        return best


def c_string(text: str) -> str:
    """``text`` as a C string literal that no content can escape from."""
    out = ['"']
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if 0x20 <= byte < 0x7F and ch not in '"\\?':
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    out.append('"')
    return "".join(out)


def c_comment(text: str) -> str:
    """Text made safe inside ``/* ... */``: printable ASCII, no ``*/``, no line breaks."""
    safe = "".join(c if 0x20 <= ord(c) < 0x7F else "?" for c in text)
    while "*/" in safe or "/*" in safe:
        safe = safe.replace("*/", "* /").replace("/*", "/ *")
    return safe


_PRELUDE = r"""
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

static void fr_begin(int thread)
{
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

static void fr_setup(void)
{
    const char *path = getenv("FINIRACE_MARKERS");
    if (path && *path) {
        fr_marker_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fr_marker_fd < 0) fr_die("finirace: markers file");
    }
    if (pthread_key_create(&fr_end_key, fr_on_end) != 0) fr_die("finirace: pthread_key_create");
}
"""


@dataclass
class _Emitter:
    scenario: Scenario
    orderings: tuple[Ordering, ...]

    def __post_init__(self) -> None:
        self.lines: list[str] = []
        self.step_lines: list[tuple[int, StepRef]] = []
        self.tindex = {t.name: i for i, t in enumerate(self.scenario.threads)}
        events: list[str] = []
        locks: list[str] = []
        self.waiters: dict[str, int] = {}
        for t in self.scenario.threads:
            for s in t.steps:
                if s.kind in ("signal", "wait") or (s.kind == "block" and s.arg):
                    if s.arg not in events:
                        events.append(s.arg)  # type: ignore[arg-type]
                    if s.kind != "signal":
                        self.waiters[s.arg] = self.waiters.get(s.arg, 0) + 1  # type: ignore[index]
                if s.kind in ("lock", "unlock") and s.arg not in locks:
                    locks.append(s.arg)  # type: ignore[arg-type]
        self.events = {e: i for i, e in enumerate(events)}
        self.locks = {k: i for i, k in enumerate(locks)}
        # ordering edges: one pipe each, signalled by `first`, read by `then`
        self.edge_after: dict[tuple[str, int], list[tuple[int, bool]]] = {}
        self.edge_before: dict[tuple[str, int], list[int]] = {}
        for i, o in enumerate(self.orderings):
            self.edge_after.setdefault((o.first.thread, o.first.index), []).append((i, o.done))
            self.edge_before.setdefault((o.then.thread, o.then.index), []).append(i)
        self.cxx = any(s.noexcept for t in self.scenario.threads for s in t.steps)

    def emit(self, text: str = "") -> None:
        self.lines.extend(text.split("\n"))

    def build(self) -> str:
        sc = self.scenario
        self.emit(f"/* Generated by finirace lab from scenario {c_comment(sc.name)}.")
        if sc.summary:
            self.emit(f" * {c_comment(sc.summary)}")
        if sc.refs:
            self.emit(f" * refs: {c_comment(', '.join(sc.refs))}")
        self.emit(" * Markers go to the file named by FINIRACE_MARKERS (none when unset);")
        self.emit(" * FINIRACE_SETTLE_MS bounds how long main waits for blocked threads at the end.")
        self.emit(" * Build: cc prog.c $(pythonX.Y-config --cflags --ldflags --embed) -lpthread */")
        self.emit(f"#define SETTLE_DEFAULT {DEFAULT_SETTLE_MS}")
        self.emit(_PRELUDE.strip("\n"))
        self.emit()
        n = len(sc.threads)
        self.emit(f"static pthread_t fr_tid[{n}];")
        for name, i in self.events.items():
            self.emit(f"static int fr_event_{i}[2]; /* event {c_comment(name)}: {self.waiters.get(name, 0)} waiter(s) */")
        for name, i in self.locks.items():
            self.emit(f"static pthread_mutex_t fr_lock_{i} = PTHREAD_MUTEX_INITIALIZER; /* lock {c_comment(name)} */")
        for i, o in enumerate(self.orderings):
            when = "returned" if o.done else "begun"
            self.emit(f"static int fr_order_{i}[2]; /* {c_comment(str(o.then))} waits until {c_comment(str(o.first))} has {when} */")
        for i in range(n):
            self.emit(f"static void *fr_thread_{i}(void *unused);")
        if self.cxx:
            self.emit("#define FR_NOEXCEPT(stmt) [&]() noexcept { stmt; }()  /* a C++ noexcept frame around the call */")
        if any(s.kind == "start_thread" for t in sc.threads for s in t.steps):
            self.emit_python_threads()
        self.emit()
        for t in sc.threads:
            self.emit_thread(t)
        self.emit_main()
        return "\n".join(self.lines) + "\n"

    def emit_python_threads(self) -> None:
        """A Python-callable entry per thread started with ``start_thread``."""
        for t in self.scenario.threads:
            if not any(s.kind == "start_thread" and s.arg == t.name for u in self.scenario.threads for s in u.steps):
                continue
            i = self.tindex[t.name]
            self.emit(f"static PyObject *fr_pyentry_{i}(PyObject *self, PyObject *unused)")
            self.emit("{")
            self.emit(f"    (void)self; (void)unused; fr_thread_{i}(NULL);")
            self.emit("    Py_RETURN_NONE;")
            self.emit("}")
            self.emit(f"static PyMethodDef fr_pydef_{i} = {{\"finirace_thread_{i}\", fr_pyentry_{i}, METH_NOARGS, NULL}};")
        self.emit(
            """
/* threading.Thread(target=entry, daemon=True).start(); the caller holds the GIL. */
static void fr_start_python_thread(PyMethodDef *def)
{
    PyObject *fn = PyCFunction_New(def, NULL);
    PyObject *mod = PyImport_ImportModule("threading");
    PyObject *cls = mod ? PyObject_GetAttrString(mod, "Thread") : NULL;
    PyObject *args = PyTuple_New(0);
    PyObject *kw = Py_BuildValue("{s:O,s:O}", "target", fn, "daemon", Py_True);
    PyObject *th = (cls && args && kw) ? PyObject_Call(cls, args, kw) : NULL;
    PyObject *r = th ? PyObject_CallMethod(th, "start", NULL) : NULL;
    if (r == NULL) PyErr_Print();
    Py_XDECREF(r); Py_XDECREF(th); Py_XDECREF(kw); Py_XDECREF(args);
    Py_XDECREF(cls); Py_XDECREF(mod); Py_XDECREF(fn);
}""".strip("\n")
        )

    def call(self, s: Step) -> str:
        """The C statement of one step (without markers)."""
        k, a = s.kind, s.arg
        if k == "init":
            return "fr_set_home(); Py_Initialize(); fr_interp = PyInterpreterState_Head();"
        if k == "finalize":
            return "Py_FinalizeEx();"
        if k == "spawn":
            j = self.tindex[a]  # type: ignore[index]
            return (f"__atomic_add_fetch(&fr_alive, 1, __ATOMIC_SEQ_CST); "
                    f"if (pthread_create(&fr_tid[{j}], NULL, fr_thread_{j}, NULL) != 0) fr_die(\"finirace: pthread_create\");")
        if k == "start_thread":
            j = self.tindex[a]  # type: ignore[index]
            return f"__atomic_add_fetch(&fr_alive, 1, __ATOMIC_SEQ_CST); fr_start_python_thread(&fr_pydef_{j});"
        if k == "join":
            return f"pthread_join(fr_tid[{self.tindex[a]}], NULL);"  # type: ignore[index]
        if k == "ensure":
            return "gil[ngil++] = PyGILState_Ensure();"
        if k == "release":
            return "PyGILState_Release(ngil > 0 ? gil[--ngil] : PyGILState_UNLOCKED);"
        if k == "save":
            return "ts = PyEval_SaveThread();"
        if k == "restore":
            return "PyEval_RestoreThread(ts);"
        if k == "new_tstate":
            return "ts = PyThreadState_New(fr_interp);"
        if k == "clear_tstate":
            return "PyThreadState_Clear(ts);"
        if k == "delete_tstate":
            return "PyThreadState_Delete(ts);"
        if k == "python":
            return f"PyRun_SimpleString({c_string(a or '')});"
        if k == "block":
            if a:
                return f"fr_read_byte(fr_event_{self.events[a]}[0]); /* a blocking read until the event */"
            return "/* a blocking call that returns at once */"
        if k in ("guard", "unguard"):
            return "/* PEP 788 guards exist from 3.15 on: no call here (finirace's guard helper comes later) */"
        if k == "lock":
            return f"pthread_mutex_lock(&fr_lock_{self.locks[a]});"  # type: ignore[index]
        if k == "unlock":
            return f"pthread_mutex_unlock(&fr_lock_{self.locks[a]});"  # type: ignore[index]
        if k == "signal":
            return f"fr_write_bytes(fr_event_{self.events[a]}[1], {max(1, self.waiters.get(a, 0))});"  # type: ignore[arg-type]
        if k == "wait":
            return f"fr_read_byte(fr_event_{self.events[a]}[0]);"  # type: ignore[index]
        raise ValueError(f"no C for step kind {k!r}")  # the scenario parser admits no other

    def emit_thread(self, t) -> None:
        i = self.tindex[t.name]
        ensures = sum(1 for s in t.steps if s.kind == "ensure")
        self.emit(f"/* thread {c_comment(t.name)} */")
        self.emit(f"static void *fr_thread_{i}(void *unused)")
        self.emit("{")
        self.emit("    PyThreadState *ts = NULL;")
        self.emit(f"    PyGILState_STATE gil[{ensures + 1}];")
        self.emit("    int ngil = 0;")
        self.emit("    (void)unused; (void)ts; (void)gil; (void)ngil;")
        self.emit(f"    fr_begin({i});")
        for s in t.steps:
            where = f"{c_comment(t.name)}[{s.index}]"
            line = f", line {s.line}" if s.line else ""
            self.emit(f"    /* {where} {c_comment(s.text)}{line} */")
            for e in self.edge_before.get((t.name, s.index), []):
                self.emit(f"    fr_read_byte(fr_order_{e}[0]); /* schedule order */")
            stmt = self.call(s)
            if s.noexcept:
                stmt = f"FR_NOEXCEPT({stmt});"
            self.emit(f"    fr_mark({i}, {s.index}, 'b');")
            for e, done in self.edge_after.get((t.name, s.index), []):
                if not done:
                    self.emit(f"    fr_write_bytes(fr_order_{e}[1], 1); /* schedule order */")
            self.step_lines.append((len(self.lines) + 1, s.ref))
            self.emit(f"    {stmt}")
            self.emit(f"    fr_mark({i}, {s.index}, 'a');")
            for e, done in self.edge_after.get((t.name, s.index), []):
                if done:
                    self.emit(f"    fr_write_bytes(fr_order_{e}[1], 1); /* schedule order */")
        self.emit(f"    fr_mark({i}, -1, 'F');")
        self.emit("    return NULL;")
        self.emit("}")
        self.emit()

    def emit_main(self) -> None:
        self.emit("int main(void)")
        self.emit("{")
        self.emit("    fr_setup();")
        pipes = [f"fr_event_{i}" for i in self.events.values()] + [f"fr_order_{i}" for i in range(len(self.orderings))]
        for p in pipes:
            self.emit(f"    if (pipe({p}) != 0) fr_die(\"finirace: pipe\");")
        self.emit("    fr_tid[0] = pthread_self();")
        self.emit("    fr_thread_0(NULL);")
        self.emit("    fr_settle();")
        self.emit("    fr_stop_if_blocked();")
        self.emit("    fr_mark(0, -1, 'E');")
        self.emit("    return 0;")
        self.emit("}")


def generate(scenario: Scenario, orderings: tuple[Ordering, ...] = ()) -> Program:
    """The program for ``scenario``, with extra ordering edges (a projected schedule)."""
    em = _Emitter(scenario, tuple(orderings))
    source = em.build()
    return Program(
        scenario=scenario.name,
        language="c++" if em.cxx else "c",
        source=source,
        threads=scenario.thread_names,
        steps=tuple(tuple(s.ref for s in t.steps) for t in scenario.threads),
        kinds=tuple(tuple(s.kind for s in t.steps) for t in scenario.threads),
        step_lines=tuple(em.step_lines),
    )
