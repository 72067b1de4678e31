# finirace exit guard, the PYTHONPATH way: put this directory first on
# PYTHONPATH and set FINIRACE_GUARD=1 (or stop / park); every Python 3.8+
# started with that environment installs the guard before the program runs,
# whether or not finirace is installed for that interpreter.  finirace's
# source directory is on sys.path only while the guard is imported.  Chains
# to the sitecustomize this one shadows.
import os
import sys


def _finirace_guard_boot():
    here = os.path.dirname(os.path.abspath(__file__))
    if os.environ.get("FINIRACE_GUARD", "").strip() not in ("", "0"):
        root = os.path.dirname(os.path.dirname(os.path.dirname(here)))  # the dir holding finirace/
        added = root not in sys.path
        if added:
            sys.path.insert(0, root)
        try:
            import finirace.guard.boot  # noqa: F401  (installs on import)
        finally:
            if added:
                sys.path.remove(root)
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    import importlib.machinery
    import importlib.util

    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


try:
    _finirace_guard_boot()
except Exception as _exc:  # a start-up hook never stops a program from starting
    sys.stderr.write("finirace guard: not installed: %r\n" % (_exc,))
