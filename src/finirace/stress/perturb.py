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
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs

LEVELS = ("none", "python", "native", "all")


@dataclass(frozen=True)
class Perturbation:
    """What to perturb; ``python`` is the default, ``all`` adds native delays."""

    level: str = "python"
    switch_interval: float = 1e-6
    exit_delay: float = 0.005
    exit_hold: int = 600_000  # at most this many items summed holding the GIL at exit (a few ms)
    exit_window_ms: int = 30  # longest a thread is held back across finalization (shim)
    thread_delay: float = 0.002
    native_delay_us: int = 50

    @property
    def python(self) -> bool:
        return self.level in ("python", "all")

    @property
    def native(self) -> bool:
        return self.level in ("native", "all")

    def environment(self, seed: int) -> dict[str, str]:
        """Variables for one run (PYTHONPATH and LD_PRELOAD are joined by the caller)."""
        env = {"FINIRACE_SEED": str(seed)}
        if self.python:
            env.update(
                FINIRACE_SWITCH_INTERVAL=repr(self.switch_interval),
                FINIRACE_EXIT_DELAY=repr(self.exit_delay),
                FINIRACE_EXIT_HOLD=str(self.exit_hold),
                FINIRACE_EXIT_WINDOW_MS=str(self.exit_window_ms),
                FINIRACE_THREAD_DELAY=repr(self.thread_delay),
            )
        if self.native:
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
