"""Where each model step begins in a CPython version: data, checked against real line tables.

Why data, per version: an exact schedule stops a thread *inside* a C call, at
the place where the model preempted it (``take_gil`` after its finalizing test,
before it reads ``tstate->interp``).  That place is a source line, and lines
move between versions, so each minor version has one file in ``lab/lines/``
keyed by the model's step labels (``take_gil.tstate``), never by a scenario.
Each entry gives a gdb location and the function whose code must hold it;
:func:`check` asks gdb (``info line``) against an interpreter's own
``libpython`` whether every location still resolves there, and a test runs it
on every installed interpreter.  A step that has no line of its own in a
version (inlined, optimised into another) is listed under ``[missing]`` with
the reason; the lab then says so and falls back to ordering whole calls.

Two refinements.  A build whose lines differ from its minor version's file
(Debian's 3.11.2 release and debug builds beside pyenv's 3.11.7) has a file
of its own named by its label (``3.11.2.toml``, ``3.11.2-debug.toml``), read
first.  And the steps of the program's own code (the guard helper's header
``finirace_guard.h``, the exit guard's ``lab/exit_guard.c``) are the same on
every version: ``program.toml`` holds them, every version's map includes them,
and :func:`check` reads them from a built lab program's line table, not from
``libpython``; a place there may name the text its line ``holds``, which the
check compares with the source, so an edit that moves the line fails it.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

LINES_DIR = Path(__file__).with_name("lines")
LIBPYTHON = "libpython"  # a place in the interpreter's shared library
PROGRAM = "program"  # a place in the lab program's own code (program.toml)
_SET = re.compile(r"^Breakpoint (\d+) at ", re.M)
# "1  breakpoint keep y  0x... in take_gil at Python/ceval_gil.h:232" or "1.2  y  0x... in f at file:line"
_LOCATION = re.compile(r"^(\d+)(?:\.\d+)?\s.*?0x[0-9a-f]+\s+in\s+([\w.]+)\s+at\s", re.M)


@dataclass(frozen=True)
class Place:
    """Where a model step begins in one version: a gdb location inside a function."""

    label: str  # the model's step label, e.g. "take_gil.tstate"
    at: str  # gdb location: "Python/ceval_gil.h:232" or a function name
    function: str  # the function whose code must hold it
    note: str = ""
    target: str = LIBPYTHON  # whose line table holds it: LIBPYTHON or PROGRAM
    holds: str = ""  # PROGRAM places at FILE:LINE: text that line of our own source contains


@dataclass(frozen=True)
class LineMap:
    """Every mapped step of one CPython minor version."""

    version: tuple[int, int]
    checked: str  # the release the lines were read from
    places: dict[str, Place] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # label -> why it has no line

    def why_missing(self, label: str) -> str | None:
        """None when ``label`` has a place here, else why not (one line)."""
        if label in self.places:
            return None
        if label in self.missing:
            return self.missing[label]
        return f"no line is mapped for {label} in CPython {self.version[0]}.{self.version[1]}"


def _read(path: Path, target: str) -> tuple[str, dict[str, Place], dict[str, str]]:
    data = tomllib.loads(path.read_text())
    places = {label: Place(label, str(e["at"]), str(e["in"]), str(e.get("note", "")), target,
                           str(e.get("holds", "")))
              for label, e in data.get("steps", {}).items()}
    return str(data.get("checked", "")), places, dict(data.get("missing", {}))


def _with_program(version: tuple[int, int], path: Path, root: Path) -> LineMap:
    """A version's (or a build's) file, with the program's own places where it maps nothing else."""
    checked, places, missing = _read(path, LIBPYTHON)
    own = root / f"{PROGRAM}.toml"
    if own.exists():
        _, mine, not_mine = _read(own, PROGRAM)
        places = {**mine, **places}
        missing = {**not_mine, **missing}
    return LineMap(version, checked, places, missing)


def load(version: tuple[int, int], root: Path = LINES_DIR) -> LineMap | None:
    """The line map of a minor version, or None when there is no file for it."""
    path = root / f"{version[0]}.{version[1]}.toml"
    if not path.exists():
        return None
    return _with_program(version, path, root)


def for_interpreter(interp, root: Path = LINES_DIR) -> LineMap | None:
    """The line map of this very build: its own file (``3.11.2-debug.toml``), else its minor version's."""
    own = root / f"{interp.label}.toml"
    if own.exists():
        return _with_program(tuple(interp.version[:2]), own, root)
    return load(tuple(interp.version[:2]), root)


def library_of(interp) -> Path | None:
    """The interpreter's ``libpython`` shared library (where its line table is)."""
    major, minor = interp.version[:2]
    libdir = Path(interp.libdir) if interp.libdir else None
    if libdir is None or not libdir.is_dir():
        return None
    # a debug build's is libpython3.11d.so beside the release's libpython3.11.so (Debian)
    found = sorted(p for p in libdir.glob(f"libpython{major}.{minor}*.so*")
                   if ("d" in p.name.split(".so")[0][len(f"libpython{major}.{minor}"):]) == bool(interp.debug))
    return found[0] if found else None


def check(linemap: LineMap, binary: Path, timeout: float = 120.0, target: str = LIBPYTHON) -> dict[str, str]:
    """Problems with each ``target`` place in ``binary``'s line table: label -> what is wrong (empty: all fine).

    ``binary`` is the interpreter's ``libpython`` for LIBPYTHON places, a
    built lab program (its guard helper and exit guard compiled in) for
    PROGRAM places.  One gdb run (``-nx -batch``): a breakpoint per place, then
    ``info breakpoints``, which lists every address a location resolves to (an
    inlined function has one per copy) and the function that holds it.  A place
    is fine when one of its addresses lies in its function, and the line of our
    own source holds the text the place names.
    """
    labels = [label for label, place in linemap.places.items() if place.target == target]
    argv = ["gdb", "-nx", "-batch"]
    for label in labels:
        argv += ["-ex", f"echo ==place {label}==\\n", "-ex", f"break {linemap.places[label].at}"]
    argv += ["-ex", "echo ==table==\\n", "-ex", "info breakpoints", str(binary)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout).stdout
    head, _, table = out.partition("==table==")
    chunks = re.split(r"^==place (\S+)==$", head, flags=re.M)
    answers = dict(zip(chunks[1::2], chunks[2::2]))
    where: dict[str, list[str]] = {}
    for m in _LOCATION.finditer(table):
        where.setdefault(m.group(1), []).append(m.group(2))
    problems = {}
    for label in labels:
        place = linemap.places[label]
        text = answers.get(label, "")
        number = _SET.search(text)
        functions = where.get(number.group(1), []) if number else []
        if not functions:
            first = text.strip().splitlines()[0] if text.strip() else "no answer from gdb"
            problems[label] = f"{place.at} does not resolve: {first}"
        elif place.function not in functions:
            problems[label] = f"{place.at} resolves in {', '.join(sorted(set(functions)))}, not in {place.function}"
        elif place.holds and place.holds not in own_line(place.at):
            problems[label] = f"{place.at} no longer holds {place.holds!r}: {own_line(place.at).strip()!r}"
    return problems


def own_line(at: str) -> str:
    """The text of ``FILE:LINE`` in the program's own sources (the guard helper's header), '' if none."""
    from finirace.guard.header import header_path

    name, _, number = at.rpartition(":")
    sources = {header_path().name: header_path()}
    if name not in sources or not number.isdigit():
        return ""
    lines = sources[name].read_text().splitlines()
    n = int(number)
    return lines[n - 1] if 0 < n <= len(lines) else ""
