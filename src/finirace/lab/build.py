"""Build a generated program against one interpreter, into a content-addressed cache.

Why a cache keyed by content: a sweep builds the same scenario for many
interpreters and ``--repeat`` runs it many times; the key (source, language,
compiler and its version, the interpreter's real binary, version, build and
flags) changes whenever anything that affects the binary changes, so a hit is
always right and nothing needs invalidating.  Entries are written to a
temporary name and renamed, so two builders racing on one key both end with a
complete binary.

The cache lives in the user cache directory (``XDG_CACHE_HOME``,
``platformdirs``), or where ``FINIRACE_CACHE_DIR`` says.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from finirace.errors import UsageError
from finirace.guard.header import HEADER, header_path, include_dir
from finirace.lab.codegen import Program
from finirace.lab.interpreters import Interpreter

CACHE_ENV = "FINIRACE_CACHE_DIR"
_COMPILERS = {"c": "gcc", "c++": "g++"}


class BuildError(UsageError):
    """A program that did not build; the message names the scenario step and the compiler's words."""


@dataclass(frozen=True)
class Built:
    """A built program: where its binary and source are, and whether it came from the cache."""

    binary: Path
    source: Path
    key: str
    cached: bool
    command: tuple[str, ...]


def cache_root() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("finirace")) / "lab"


@functools.lru_cache(maxsize=None)
def compiler_identity(compiler: str) -> str:
    """Path and version of a compiler (part of the cache key); '' when it is missing."""
    path = shutil.which(compiler)
    if path is None:
        return ""
    try:
        out = subprocess.run([path, "-dumpfullversion", "-dumpversion"], capture_output=True, text=True,
                             timeout=30, stdin=subprocess.DEVNULL).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = "?"
    return f"{os.path.realpath(path)} {out}"


def command(program: Program, interp: Interpreter, source: Path, output: Path) -> list[str]:
    """The compiler command line: the interpreter's own flags, debug info kept for the detectors."""
    compiler = _COMPILERS[program.language]
    cflags = list(interp.cflags)
    if program.language == "c++":
        # flags valid for C only make g++ warn or fail
        cflags = [f for f in cflags if not f.startswith(("-Wstrict-prototypes", "-std=c", "-Werror=implicit"))]
    # -O0 after the interpreter's -O3: the program only calls into libpython, so
    # optimizing it buys nothing, costs build time and blurs its frames in gdb
    # -I of finirace_guard.h: programs whose steps use the guard helper include it
    return [compiler, "-g", "-o", str(output), str(source), f"-I{include_dir()}", *cflags, "-O0",
            *interp.ldflags, "-lpthread"]


def cache_key(program: Program, interp: Interpreter) -> str:
    h = hashlib.sha256()
    compiler = _COMPILERS[program.language]
    header = header_path().read_text(encoding="utf-8") if HEADER in program.source else ""
    for part in (program.language, program.source, header, compiler_identity(compiler), interp.executable,
                 interp.version_text, interp.build, " ".join(interp.cflags), " ".join(interp.ldflags)):
        h.update(part.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()


def build(program: Program, interp: Interpreter, root: Path | None = None) -> Built:
    """The binary of ``program`` for ``interp``, built now or taken from the cache."""
    if not interp.can_embed:
        raise BuildError(f"{interp.path}: cannot embed: {interp.reason}")
    compiler = _COMPILERS[program.language]
    if not compiler_identity(compiler):
        raise BuildError(f"scenario {program.scenario}: {compiler} is not installed (apt-get install {compiler})")
    key = cache_key(program, interp)
    folder = (root or cache_root()) / key[:2] / key
    binary = folder / "prog"
    source = folder / f"{program.scenario}{program.suffix}"
    if binary.is_file() and os.access(binary, os.X_OK):
        return Built(binary, source, key, True, tuple(command(program, interp, source, binary)))
    folder.mkdir(parents=True, exist_ok=True)
    if not source.is_file():
        fd, tmp_src = tempfile.mkstemp(dir=folder, suffix=program.suffix)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(program.source)
        os.replace(tmp_src, source)
    fd, tmp_bin = tempfile.mkstemp(dir=folder, prefix=".prog-")
    os.close(fd)
    argv = command(program, interp, source, Path(tmp_bin))
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        os.unlink(tmp_bin)
        raise BuildError(f"scenario {program.scenario}: {compiler} took over 300 s for {interp.label}") from None
    if p.returncode != 0:
        os.unlink(tmp_bin)
        raise BuildError(describe_failure(program, interp, source, p.stderr))
    os.replace(tmp_bin, binary)
    return Built(binary, source, key, False, tuple(command(program, interp, source, binary)))


def describe_failure(program: Program, interp: Interpreter, source: Path, stderr: str) -> str:
    """One line: the scenario step whose code failed, and the compiler's first error."""
    pat = re.compile(re.escape(source.name) + r":(\d+):(?:\d+:)? (?:fatal )?error: (.*)")
    for line in stderr.splitlines():
        m = pat.search(line)
        if m:
            step = program.step_at_line(int(m.group(1)))
            where = f"step {step}" if step else f"line {m.group(1)} of the generated program"
            return f"scenario {program.scenario}, {where}: does not build for {interp.label}: {m.group(2).strip()}"
    first = next((ln.strip() for ln in stderr.splitlines() if "error" in ln), stderr.strip()[:200] or "no message")
    return f"scenario {program.scenario}: does not build for {interp.label}: {first}"
