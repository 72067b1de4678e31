"""Perturbations that widen shutdown windows without editing the target.

Python level, the default (``sitecustomize.py`` shipped in ``stress/data``,
put first on ``PYTHONPATH``): a tiny switch interval, random delays when
daemon threads start, and at exit (``atexit`` handlers registered first, so
they run last, in this order) a random sleep, then a hold of the GIL for a
few ms in one C call (every daemon thread coming back from C queues in
take_gil and asks for the GIL), then the mark that tells the preloaded shim
the exit begins.  The shim then holds back each thread that gives up waiting
for the GIL until finalization is over, and keeps the process alive until
they went on (the exit window, see ``shim.c``): what such a thread touches
then is freed, as in 3.10's daemon-at-exit crash, which this turns from 3 in
1000 runs into one in a few.  Native level (``shim.c``, built with gcc on demand and
cached by content, ``LD_PRELOAD``): random microsecond delays before
condition-variable waits and mutex locks, which are what the GIL is made of.
The shim also prints the faulting thread's native frames on a fatal signal,
which is how every crash gets a native stack without a debugger.

Every run gets its own seed (campaign seed + run index), recorded with the
run, so a crash replays with the same delays.

Two choices are made per run from its seed (:meth:`Perturbation.for_run`)
and recorded with the run as text (``python, cpu 1, 2 hogs``):

* the level, when the campaign mixes them (``mix``, the default): a quarter
  of the runs unperturbed, half ``python``, a quarter ``all``.  Perturbation
  must never cost coverage: a crash that needs the interpreter's own timing
  is still met by the plain runs, and the report gives the rate per level.
* contention, for a perturbed run: most of them are pinned to one CPU (the
  shim's constructor, before any thread exists, so every thread of the
  target shares that core), and some of those start one or two native
  threads that spin on it from the exit mark for a few ms.  The windows
  these races need (a thread descheduled at one instruction while
  finalization runs) open when threads compete for a core; a quiet machine
  with idle cores does not make them, a loaded one does: contention made by
  the run itself makes the rates of the two alike.

Every perturbed run also gets ``MALLOC_PERTURB_`` (glibc fills freed blocks
with a byte): whether a read of freed memory crashes must not depend on the
heap's layout, which changes with the smallest thing (the length of the
interpreter's own path: ``bin/python`` found 3.10's crash where
``bin/python3.10`` did not, same binary, same seeds).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs

LEVELS = ("mix", "none", "python", "native", "all")
MIX = ("none", "python", "python", "all")  # the levels a mixed campaign draws from, equally likely
HOG_MS = 20  # how long a hog thread spins from the exit mark
MALLOC_PERTURB = 165  # glibc fills freed blocks with this byte in perturbed runs (0xa5)


@dataclass(frozen=True)
class RunPerturbation:
    """What one run got: its level, the CPU it was pinned to (or None), its hog threads."""

    level: str
    cpu: int | None = None
    hogs: int = 0

    @property
    def python(self) -> bool:
        return self.level in ("python", "all")

    @property
    def native(self) -> bool:
        return self.level in ("native", "all")

    def text(self) -> str:
        """``python, cpu 1, 2 hogs``: as stored with the run; the level comes first."""
        parts = [self.level]
        if self.cpu is not None:
            parts.append(f"cpu {self.cpu}")
        if self.hogs:
            parts.append(f"{self.hogs} hog{'s' if self.hogs > 1 else ''}")
        return ", ".join(parts)


def level_of(text: str) -> str:
    """The level of a stored run's perturbation text (``''`` for runs stored before it was kept)."""
    return text.split(",", 1)[0].strip()


@dataclass(frozen=True)
class Perturbation:
    """What to perturb; ``mix`` (the default) draws a level per run, ``all`` adds native delays."""

    level: str = "mix"
    switch_interval: float = 1e-6
    exit_delay: float = 0.005
    exit_hold: int = 600_000  # at most this many items summed holding the GIL at exit (a few ms)
    exit_window_ms: int = 30  # longest a thread is held back across finalization (shim)
    thread_delay: float = 0.002
    native_delay_us: int = 50

    contention: bool = True  # pin perturbed runs to one CPU, some with hog threads

    def for_run(self, seed: int, cpus: tuple[int, ...] | None = None) -> RunPerturbation:
        """The level and contention of run ``seed``: drawn from the seed, so a replay gets the same."""
        rng = random.Random(seed * 7919 + 17)  # not the sitecustomize's stream (that one is seeded with the seed)
        level = rng.choice(MIX) if self.level == "mix" else self.level
        pick, hog = rng.random(), rng.random()
        if level == "none" or not self.contention or pick >= 0.75:
            return RunPerturbation(level)
        allowed = cpus if cpus is not None else tuple(sorted(os.sched_getaffinity(0)))
        if len(allowed) < 2:
            return RunPerturbation(level)  # one CPU: every run shares it already
        return RunPerturbation(level, cpu=allowed[rng.randrange(len(allowed))], hogs=0 if hog < 0.4 else 1 if hog < 0.8 else 2)

    def environment(self, seed: int, run: RunPerturbation | None = None) -> dict[str, str]:
        """Variables for one run (PYTHONPATH and LD_PRELOAD are joined by the caller)."""
        run = run if run is not None else self.for_run(seed)
        env = {"FINIRACE_SEED": str(seed)}
        if run.cpu is not None:
            env["FINIRACE_PIN_CPU"] = str(run.cpu)
        if run.hogs:
            env.update(FINIRACE_HOG_THREADS=str(run.hogs), FINIRACE_HOG_MS=str(HOG_MS))
        if run.level != "none":
            # freed heap memory filled with a byte (glibc): a thread that reads what finalization freed
            # (3.10's take_gil reading the freed interpreter) then goes through a garbage pointer and
            # crashes, instead of crashing or not by the luck of the heap's layout
            env["MALLOC_PERTURB_"] = str(MALLOC_PERTURB)
        if run.python:
            env.update(
                FINIRACE_SWITCH_INTERVAL=repr(self.switch_interval),
                FINIRACE_EXIT_DELAY=repr(self.exit_delay),
                FINIRACE_EXIT_HOLD=str(self.exit_hold),
                FINIRACE_EXIT_WINDOW_MS=str(self.exit_window_ms),
                FINIRACE_THREAD_DELAY=repr(self.thread_delay),
            )
        if run.native:
            env["FINIRACE_NATIVE_DELAY_US"] = str(self.native_delay_us)
        return env


def sitecustomize_dir() -> Path:
    """The directory holding the perturbing ``sitecustomize.py`` (inside the package)."""
    return Path(str(resources.files("finirace.stress") / "data"))


def shim_source() -> bytes:
    return (resources.files("finirace.stress") / "shim.c").read_bytes()


_built: dict[Path | None, Path] = {}  # cache dir -> shim built (or found) by this process
_BUILD_FLAGS = b"-O2 -shared -fPIC -static-libgcc -ldl -lpthread"


class ShimError(RuntimeError):
    """The native shim could not be built (no gcc, compile error)."""


def build_shim(cache_dir: Path | None = None) -> Path:
    """The preloadable shim, compiled once per content and cached per user.

    Built to a temporary name and renamed, so concurrent builders (Dask
    workers on one machine) never load a half-written file.
    """
    known = _built.get(cache_dir)
    if known is not None and known.exists():  # every run asks: skip reading and hashing the source
        return known
    src = shim_source()
    digest = hashlib.sha256(src + _BUILD_FLAGS).hexdigest()[:16]
    cache = cache_dir or Path(platformdirs.user_cache_dir("finirace", appauthor=False)) / "shim"
    out = cache / f"finirace-shim-{digest}.so"
    if out.exists():
        _built[cache_dir] = out
        return out
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise ShimError("gcc not found: the native shim cannot be built (use --perturb python or none)")
    cache.mkdir(parents=True, exist_ok=True)
    c_file = cache / f"shim-{digest}.c"
    c_file.write_bytes(src)
    tmp = cache / f".finirace-shim-{digest}.{os.getpid()}.{threading.get_ident()}.so"
    r = subprocess.run(
        [gcc, "-O2", "-shared", "-fPIC", "-static-libgcc", "-o", str(tmp), str(c_file), "-ldl", "-lpthread"],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise ShimError(f"building the native shim failed: {r.stderr.strip().splitlines()[-1:]}")
    os.replace(tmp, out)
    _built[cache_dir] = out
    return out


def join_path(value: str, existing: str | None) -> str:
    return value if not existing else f"{value}{os.pathsep}{existing}"
