"""When a report should name the exit guard as the fix, and the line it names.

A failure at exit is the guard's to fix when a thread was inside C or C++
code with the GIL released as finalization began and came back late:
``terminate called without an active exception`` or ``FATAL: exception not
rethrown`` (``pthread_exit``'s forced unwind meeting a C++ ``noexcept``
frame or a ``catch (...)`` that swallows it: cxx-noexcept), or a failing or
hung thread whose native stack is in the runtime's way back from C
(``take_gil``, ``PyEval_RestoreThread``, 3.14's ``PyThread_hang_thread``).
The guard stops the daemon threads that Python started; a thread created in
C that attaches late needs the C guard header instead, which the fix says.  Plain data here; ``finirace audit`` and the
stress report decide with it and print :data:`FIX`.
"""

from __future__ import annotations

import re

LINE = "import finirace.guard; finirace.guard.install()"
FIX = (
    f"fix in the application: add `{LINE}` as the first line of the program "
    "(without editing it: FINIRACE_GUARD=1 with the hook of `python -m finirace.guard.pth install`); "
    "see docs/fixing-applications.md (a thread created in C code needs the C guard header instead)"
)
# the same fix where the program is a pytest session (pytest --finirace-audit): the plugin installs it
PYTEST_FIX = (
    "fix in the test session: join the thread in the test's teardown, or run pytest with --finirace-guard "
    f"(the exit guard in the pytest process); in the application itself: `{LINE}` as its first line; "
    "see docs/fixing-applications.md"
)
# the forced unwind's own words, and what it becomes when a catch (...) swallows
# it: "FATAL: exception not rethrown", or a terminate naming no real type
_CXX_UNWIND = re.compile(
    r"terminate called without an active exception|terminate called recursively|FATAL: exception not rethrown"
    r"|terminate called after throwing an instance of '(?:abi::__forced_unwind'|[^A-Za-z_])"
)
_BACK_FROM_C = re.compile(
    r"\b(take_gil|PyEval_RestoreThread|PyEval_AcquireThread|PyThread_hang_thread|_PyThreadState_MustExit"
    r"|tstate_must_exit)\b"
)


def guard_fixes(kind: str, reason: str, *texts: str) -> bool:
    """True when a failed run (its kind, reason, signature and captured stacks) is one the guard prevents."""
    if kind == "clean":
        return False
    joined = "\n".join([reason, *texts])
    return bool(_CXX_UNWIND.search(joined) or _BACK_FROM_C.search(joined))
