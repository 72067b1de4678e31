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
can break out of the literal; comments drop ``*/`` and control characters
(:mod:`finirace.lab.c_literals`).

Where the parts live: this module is the entry point (:func:`generate`) and the
program's description (:class:`Program`, the marker protocol); the C of each
step kind is the table in :mod:`finirace.lab.statements`; the writing of a
whole program is :mod:`finirace.lab.emitter`; the C every program shares is
the package file ``prelude.c``.
"""


from __future__ import annotations

from dataclasses import dataclass

from finirace.lab.c_literals import c_comment, c_string
from finirace.lab.emitter import DEFAULT_SETTLE_MS, Emitter, Ordering
from finirace.outcome import StepRef
from finirace.scenario.format import Scenario

MARKERS_ENV = "FINIRACE_MARKERS"
SETTLE_ENV = "FINIRACE_SETTLE_MS"

# phases of a marker line: "M <ns> <thread> <step> <phase>"
BEFORE, AFTER, START, DONE, END = "b", "a", "S", "F", "E"

__all__ = ["AFTER", "BEFORE", "DEFAULT_SETTLE_MS", "DONE", "END", "MARKERS_ENV", "SETTLE_ENV", "START",
           "Ordering", "Program", "c_comment", "c_string", "generate"]


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


def generate(scenario: Scenario, orderings: tuple[Ordering, ...] = ()) -> Program:
    """The program for ``scenario``, with extra ordering edges (a projected schedule)."""
    em = Emitter(scenario, tuple(orderings))
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
