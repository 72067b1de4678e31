# finirace stress perturbation, loaded by every Python the target starts
# (its directory is put first on PYTHONPATH).  Widens shutdown windows without
# editing the target: a tiny switch interval, random delays when threads
# start, and at exit a sleep, a GIL-holding hold and the exit-window mark for
# the preloaded shim (see perturb.py).  Driven by FINIRACE_* variables;
# the seed makes a run's delays replayable.  Written for Python 2.7 and 3.6+.
import os
import sys


def _finirace_perturb():
    import random
    import time

    env = os.environ
    seed = int(env.get("FINIRACE_SEED", "0"))
    rng = random.Random(seed)
    interval = env.get("FINIRACE_SWITCH_INTERVAL")
    if interval and hasattr(sys, "setswitchinterval"):
        sys.setswitchinterval(float(interval))
    import atexit

    if int(env.get("FINIRACE_EXIT_WINDOW_MS", "0") or 0) > 0 and hasattr(os, "sched_yield"):
        # registered first of all, so it runs last: tells the preloaded shim
        # that the exit begins (it holds the other threads back until the
        # interpreter is finalized; see shim.c)
        atexit.register(os.sched_yield)
    hold = int(env.get("FINIRACE_EXIT_HOLD", "0") or 0)
    if hold > 0:
        # Registered second, so it runs just before the mark, right before
        # finalization starts: a C call (no Python frame, so no eval-loop check in between) that
        # holds the GIL for a few ms.  Every daemon thread that comes back from
        # a GIL-releasing C call meanwhile queues in take_gil and asks for the
        # GIL, so finalization begins with all of them waiting there: the
        # state in which 3.10's take_gil touches the freed interpreter.
        atexit.register(sum, range(rng.randint(hold // 2, hold)))
    exit_delay = float(env.get("FINIRACE_EXIT_DELAY", "0") or 0)
    if exit_delay > 0:
        # sleeps with the GIL released: lets the daemon threads run on at exit
        atexit.register(time.sleep, rng.uniform(0, exit_delay))
    thread_delay = float(env.get("FINIRACE_THREAD_DELAY", "0") or 0)
    if thread_delay > 0:
        import threading

        inner = getattr(threading.Thread, "_bootstrap_inner", None)
        if inner is not None:
            lock = threading.Lock()

            def _bootstrap_inner(self):
                if self.daemon:
                    with lock:
                        pause = rng.uniform(0, thread_delay)
                    time.sleep(pause)
                return inner(self)

            threading.Thread._bootstrap_inner = _bootstrap_inner
    # chain to a sitecustomize this one shadows
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        import imp  # noqa: F401  (only to detect very old Pythons)
    except ImportError:
        pass
    try:
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
        if spec is not None and spec.loader is not None:
            import importlib.util

            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
    except Exception:
        pass


try:
    _finirace_perturb()
except Exception as _exc:  # a perturbation never breaks the target
    sys.stderr.write("finirace: perturbation not applied: %r\n" % (_exc,))
