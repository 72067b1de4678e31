"""The interpreters on this machine, and how to embed each of them.

Why probe instead of parsing a file name: a path says nothing reliable about a
build (``python3`` may be a pyenv shim, a venv, a debug build).  Each candidate
is run once with a tiny script that prints its ``sysconfig`` as JSON (the
script is valid Python 2 too, so 2.7 is named and refused rather than crashing
the probe), and the embed flags come from its own ``pythonX.Y-config`` script
(``--embed`` from 3.8 on; 3.6 and 3.7 link ``-lpythonX.Ym`` without it), with
an rpath to the shared library so the built program needs no
``LD_LIBRARY_PATH``.

An interpreter that cannot embed (no shared library, no headers, too old) is
kept with a ``reason``: ``finirace pythons`` lists it, nothing raises.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from finirace.errors import UsageError

PYENV_ROOTS = (Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser() / "versions",)
DEBIAN_BIN = Path("/usr/bin")
_NAME = re.compile(r"^python(\d(\.\d+)?)?([dmu]|-dbg)?$")

# Valid on Python 2.7 and every 3.x: prints one JSON object.
_PROBE = r"""
import json, os, sys, sysconfig
v = sysconfig.get_config_var
keys = ("LIBDIR", "LDLIBRARY", "Py_ENABLE_SHARED", "INCLUDEPY", "Py_DEBUG", "Py_GIL_DISABLED",
        "LDVERSION", "VERSION", "LIBS", "SYSLIBS", "MULTIARCH", "LIBPL")
out = dict((k, v(k)) for k in keys)
out["version"] = list(sys.version_info[:3])
out["executable"] = os.path.realpath(sys.executable)
out["prefix"] = getattr(sys, "base_prefix", sys.prefix)
out["exec_prefix"] = getattr(sys, "base_exec_prefix", sys.exec_prefix)
out["abiflags"] = getattr(sys, "abiflags", "")
out["gettotalrefcount"] = hasattr(sys, "gettotalrefcount")
sys.stdout.write(json.dumps(out))
"""


@dataclass(frozen=True)
class Interpreter:
    """One interpreter and what embedding it takes; ``reason`` says why it cannot."""

    path: str  # as given or found
    executable: str = ""  # the real binary (symlinks and shims resolved)
    version: tuple[int, int, int] = (0, 0, 0)
    debug: bool = False  # Py_DEBUG: assertions on
    free_threaded: bool = False  # Py_GIL_DISABLED
    prefix: str = ""
    exec_prefix: str = ""
    libdir: str = ""
    cflags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    reason: str = ""  # non-empty: cannot embed, and why

    @property
    def can_embed(self) -> bool:
        return not self.reason

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def build(self) -> str:
        """``release`` or ``debug``, and ``free-threaded`` where it applies."""
        words = ["debug" if self.debug else "release"]
        if self.free_threaded:
            words.append("free-threaded")
        return " ".join(words)

    @property
    def label(self) -> str:
        """Short, unique enough for a table: ``3.11.7`` or ``3.11.7-debug``."""
        tag = self.version_text
        if self.debug:
            tag += "-debug"
        if self.free_threaded:
            tag += "t"
        return tag

    def run_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment an embedding program needs: its stdlib, no stray PYTHON* settings.

        The home goes in ``FINIRACE_PYTHONHOME``, read by the program itself:
        a plain ``PYTHONHOME`` would also reach a gdb that embeds its own Python.
        """
        env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("PYTHON")}
        home = self.prefix if self.prefix == self.exec_prefix else f"{self.prefix}:{self.exec_prefix}"
        if home:
            env["FINIRACE_PYTHONHOME"] = home
        return env


def _config_script(executable: Path, given: Path, version: tuple[int, int, int], abiflags: str) -> Path | None:
    """The ``pythonX.Y-config`` beside the interpreter (or beside the path given)."""
    mm = f"{version[0]}.{version[1]}"
    names = [f"{given.name}-config", f"python{mm}{abiflags}-config", f"python{mm}-config"]
    for folder in (given.parent, executable.parent):
        for name in names:
            cand = folder / name
            if cand.is_file() and os.access(cand, os.X_OK):
                return cand
    return None


def _run(argv: list[str], timeout: float = 30.0) -> tuple[int, str, str]:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return -1, "", str(exc)
    return p.returncode, p.stdout, p.stderr


def probe(path: str | os.PathLike[str]) -> Interpreter:
    """Read one interpreter's version, build and embed flags; never raises for a bad interpreter."""
    given = Path(path)
    if not given.exists():
        return Interpreter(str(path), reason="no such file")
    if not os.access(given, os.X_OK) or given.is_dir():
        return Interpreter(str(path), reason="not an executable file")
    rc, out, err = _run([str(given), "-S", "-c", _PROBE])
    if rc == 0 and not out.strip():
        rc, out, err = _run([str(given), "-c", _PROBE])  # -S hid sysconfig (rare builds)
    try:
        info = json.loads(out)
    except ValueError:
        if rc == -1:  # could not start, or timed out: the error says which
            return Interpreter(str(path), reason=f"not a working Python ({err[:120]})")
        # not its stderr: a program that is not Python echoes the probe script back
        return Interpreter(str(path), reason=f"not a working Python (it does not run `-c CODE`; exit status {rc})")
    version = tuple(int(x) for x in info["version"])
    base = Interpreter(
        str(path),
        executable=info["executable"],
        version=version,  # type: ignore[arg-type]
        debug=bool(info.get("Py_DEBUG")) or bool(info.get("gettotalrefcount")),
        free_threaded=bool(info.get("Py_GIL_DISABLED")),
        prefix=info.get("prefix") or "",
        exec_prefix=info.get("exec_prefix") or "",
        libdir=info.get("LIBDIR") or "",
    )
    if version < (3, 6, 0):
        return _refuse(base, f"Python {base.version_text} is not supported (finirace embeds 3.6 and later)")
    include = info.get("INCLUDEPY") or ""
    if not include or not (Path(include) / "Python.h").is_file():
        return _refuse(base, f"no headers (Python.h not in {include or 'INCLUDEPY'}): install the -dev package")
    libname = info.get("LDLIBRARY") or ""
    libdir = info.get("LIBDIR") or ""
    shared = libname.endswith(".so") or ".so." in libname or libname.endswith(".dylib")
    if not info.get("Py_ENABLE_SHARED") or not shared:
        return _refuse(base, "no shared libpython (built without --enable-shared)")
    libdirs = [d for d in (libdir, info.get("LIBPL") or "") if d]
    multiarch = info.get("MULTIARCH")
    if multiarch and libdir:
        libdirs.append(str(Path(libdir) / multiarch))
    found = next((d for d in libdirs if (Path(d) / libname).exists()), None)
    if found is None:
        return _refuse(base, f"{libname} not found in {', '.join(libdirs) or 'LIBDIR'}")

    cflags, ldflags = _embed_flags(given, info, version, found)
    return Interpreter(
        base.path,
        base.executable,
        base.version,
        base.debug,
        base.free_threaded,
        base.prefix,
        base.exec_prefix,
        found,
        tuple(cflags),
        tuple(ldflags),
    )


def _refuse(base: Interpreter, why: str) -> Interpreter:
    return Interpreter(base.path, base.executable, base.version, base.debug, base.free_threaded,
                       base.prefix, base.exec_prefix, base.libdir, reason=why)


def _embed_flags(given: Path, info: dict, version: tuple[int, ...], libdir: str) -> tuple[list[str], list[str]]:
    """Compile and link flags: the interpreter's config script, else its sysconfig."""
    script = _config_script(Path(info["executable"]), given, version, info.get("abiflags") or "")  # type: ignore[arg-type]
    cflags: list[str] = []
    ldflags: list[str] = []
    if script is not None:
        embed = ["--embed"] if version >= (3, 8) else []
        rc1, c_out, _ = _run([str(script), "--cflags"])
        rc2, l_out, _ = _run([str(script), "--ldflags", *embed])
        if rc1 == 0 and rc2 == 0:
            cflags, ldflags = c_out.split(), l_out.split()
    if not cflags:
        cflags = [f"-I{info['INCLUDEPY']}"]
    lib = "-l" + re.sub(r"^lib|\.so.*$|\.dylib$", "", info["LDLIBRARY"])
    if lib not in ldflags:  # 3.6/3.7 without --embed name the lib already; sysconfig fallback does not
        ldflags = [f"-L{libdir}", lib, *ldflags, *(info.get("LIBS") or "").split(), *(info.get("SYSLIBS") or "").split()]
    rpath = f"-Wl,-rpath,{libdir}"
    if rpath not in ldflags:
        ldflags.append(rpath)
    ldflags = [f for f in ldflags if f not in ("-Xlinker", "-export-dynamic")]
    return cflags, ldflags


def candidates() -> list[Path]:
    """Every interpreter path worth probing: running one, PATH, pyenv versions, Debian debug builds."""
    found: list[Path] = [Path(sys.executable)]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not folder or "shims" in Path(folder).parts:
            continue  # pyenv shims re-dispatch: the versions folder is probed directly
        d = Path(folder)
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        found.extend(d / n for n in names if _NAME.match(n))
    for root in PYENV_ROOTS:
        if root.is_dir():
            for v in sorted(root.iterdir()):
                exe = _pyenv_exe(v)
                if exe is not None:
                    found.append(exe)
    if DEBIAN_BIN.is_dir():
        found.extend(sorted(DEBIAN_BIN.glob("python3.*-dbg")))
    return found


def _pyenv_exe(folder: Path) -> Path | None:
    m = re.match(r"^(\d+)\.(\d+)", folder.name)
    if not m:
        return None
    for name in (f"python{m.group(1)}.{m.group(2)}", f"python{m.group(1)}", "python"):
        cand = folder / "bin" / name
        if cand.is_file():
            return cand
    return None


def discover() -> list[Interpreter]:
    """Every distinct interpreter found, probed; sorted by version, release before debug."""
    seen: dict[str, Interpreter] = {}
    for path in candidates():
        try:
            key = str(path.resolve())
        except OSError:
            continue
        if key in seen or not path.exists():
            continue
        interp = probe(path)
        real = interp.executable or key
        if any(i.executable == real for i in seen.values() if i.executable):
            seen[key] = seen[next(k for k, i in seen.items() if i.executable == real)]
            continue
        seen[key] = interp
    unique = {id(i): i for i in seen.values()}.values()
    return sorted(unique, key=lambda i: (i.version, i.debug, i.free_threaded, i.path))


def running() -> Interpreter:
    """The interpreter running finirace."""
    return probe(sys.executable)


def resolve(paths: list[str] | None, all_found: bool) -> list[Interpreter]:
    """What ``--python PATH`` (repeatable) or ``--all`` names; the running one by default.

    A path that does not exist is a usage error (one line, exit 2); one that
    exists but cannot embed is returned with its reason for the caller to show.
    """
    if all_found:
        return discover()
    if not paths:
        return [running()]
    out = []
    for p in paths:
        exe = shutil.which(p) if os.sep not in p else p
        if exe is None or not Path(exe).exists():
            raise UsageError(f"--python {p}: no such interpreter")
        out.append(probe(exe))
    return out

