"""The scenario: a small TOML file of threads and their C-API steps.

Why TOML and one string per step: a scenario is read by people first (in a bug
report, in a review), and ``"restore"`` under ``worker`` says what the C code
does at a glance.  The same file drives the model, the C code generator and the
reports, so everything here is plain data with no semantics attached.

Example::

    name = "seed"
    summary = "worker blocked with the GIL released across Py_Finalize"
    refs = ["bpo-33608"]

    [threads]
    main = ["init", "spawn worker", "wait blocked", "finalize", "signal done"]
    worker = ["ensure", "save", "signal blocked", "block until done", "restore", "release"]

    [expect]
    legacy = "clean, worker hung"
    prefix = "memory-error"

Validation is strict and every error is one line naming the file, the line
where it can be found, the thread and the step (see :class:`ScenarioError`).
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from finirace.errors import UsageError
from finirace.outcome import LabelError, parse_label
from finirace.scenario.steps import MODIFIERS, STARTS_PYTHON_THREAD, STEP_KINDS, Arg

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

MAIN = "main"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,39}$")
_TOP_KEYS = {"name", "summary", "refs", "threads", "expect", "notes"}


class ScenarioError(UsageError):
    """A scenario that cannot be used; the message is the whole report, one line."""


@dataclass(frozen=True)
class Step:
    """One step of one thread, as written and as parsed."""

    thread: str
    index: int
    text: str  # as written in the file
    kind: str  # a key of STEP_KINDS
    arg: str | None = None  # thread, event, lock name or Python code
    noexcept: bool = False
    line: int | None = None  # 1-based line in the file, where it could be found

    @cached_property  # built once: the explorer asks for it at every step of a search
    def ref(self):
        from finirace.outcome import StepRef

        return StepRef(self.thread, self.index, self.text)

    def __str__(self) -> str:
        return f"{self.thread}[{self.index}] {self.text}"


@dataclass(frozen=True)
class Thread:
    name: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Scenario:
    """A parsed, validated scenario.  ``threads[0]`` is always ``main``."""

    name: str
    summary: str
    refs: tuple[str, ...]
    threads: tuple[Thread, ...]
    expect: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    notes: str = ""
    path: str | None = None

    def thread(self, name: str) -> Thread:
        for t in self.threads:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def thread_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.threads)

    @property
    def ordered(self) -> bool:
        """Whether the scenario orders its threads with events (signal/wait)."""
        return any(s.kind in ("signal", "wait") or (s.kind == "block" and s.arg) for t in self.threads for s in t.steps)


# --------------------------------------------------------------------------- parsing


_LONG_QUOTE = re.compile(r"'[^'\n]{120,}'")


def _cut_quote(m: re.Match) -> str:
    """A quoted value too long for an error line: its start and end, and how much was left out."""
    text = m.group(0)
    return f"{text[:60]}…[{len(text) - 80} more]…{text[-20:]}"


def shown(path: str | Path, limit: int = 200) -> str:
    """A path as an error line names it: cut in the middle when too long to read on one line."""
    s = str(path)
    return s if len(s) <= limit else s[: limit // 2 - 1] + "…" + s[-(limit // 2):]


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{shown(path)}: no such scenario file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{shown(path)}: is a directory, not a scenario file") from None
    except OSError as exc:
        raise ScenarioError(f"{shown(path)}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{shown(path)}: not UTF-8 text (byte {exc.start})") from None
    return loads(text, source=str(path))


def loads(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario text; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        if m:
            msg = msg[: m.start()].strip()
            raise ScenarioError(f"{source}:{m.group(1)}: bad TOML: {msg}") from None
        raise ScenarioError(f"{source}: bad TOML: {msg}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ScenarioError(f"{source}: bad TOML: nested too deeply") from None
    return _Builder(text, source).build(data)


class _Builder:
    """Turns TOML data into a Scenario, raising the first error found."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.lines = text.splitlines()
        self.source = source
        self._step_lines: dict[str, list[int]] = {}
        self._compiled: set[str] = set()  # code already compiled (a step repeated a thousand times)

    # -- error reporting --------------------------------------------------
    def fail(self, msg: str, line: int | None = None) -> ScenarioError:
        where = f"{self.source}:{line}" if line else self.source
        return ScenarioError(f"{where}: {_LONG_QUOTE.sub(_cut_quote, msg)}")

    def key_line(self, key: str) -> int | None:
        pat = re.compile(r"^\s*(?:threads\.)?[\"']?" + re.escape(key) + r"[\"']?\s*=")
        for i, line in enumerate(self.lines, 1):
            if pat.search(line):
                return i
        return None

    def step_line(self, thread: str, index: int) -> int | None:
        """The line of a thread's ``index``-th string, found by scanning the text."""
        lines = self._step_lines.get(thread)
        if lines is None:
            lines = self._step_lines[thread] = self._scan_steps(thread)
        return lines[index] if index < len(lines) else None

    def _scan_steps(self, thread: str) -> list[int]:
        """The line of each element of a thread's array, in one pass over the text (a
        scan per step made a file of thousands of steps take seconds to read)."""
        start = self.key_line(thread)
        if start is None:
            return []
        body = "\n".join(self.lines[start - 1 :])
        eq = body.find("=")
        out: list[int] = []
        depth = 0
        line, pos = start, eq + 1  # lines counted up to pos, incrementally
        # the array's elements at depth 1: strings, or any other value (a number, a table)
        token = r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|\{[^}]*\}|\[|\]|[^,\s\[\]"\'{}#]+'
        for m in re.finditer(token, body[eq + 1 :]):
            tok = m.group(0)
            if tok.startswith("#"):
                continue
            if tok == "[":
                depth += 1
                if depth == 1:
                    continue
            elif tok == "]":
                depth -= 1
                if depth <= 0:
                    return out
                continue
            if depth == 1 or (depth == 2 and tok == "["):
                at = eq + 1 + m.start()
                line += body.count("\n", pos, at)
                pos = at
                out.append(line)
        return out

    # -- building ---------------------------------------------------------
    def build(self, data: dict) -> Scenario:
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise self.fail(
                f"unknown key {unknown[0]!r} (a scenario has: {', '.join(sorted(_TOP_KEYS))})", self.key_line(unknown[0])
            )
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.fail("'name' is missing or not a string", self.key_line("name"))
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
            raise self.fail(f"name {name!r} must be letters, digits, '-', '_' or '.'", self.key_line("name"))
        summary = data.get("summary", "")
        if not isinstance(summary, str):
            raise self.fail("'summary' must be a string", self.key_line("summary"))
        notes = data.get("notes", "")
        if not isinstance(notes, str):
            raise self.fail("'notes' must be a string", self.key_line("notes"))
        refs = data.get("refs", [])
        if isinstance(refs, str):
            refs = [refs]
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise self.fail("'refs' must be a list of strings", self.key_line("refs"))

        threads = self.build_threads(data.get("threads"))
        self.check_references(threads)
        expect = self.build_expect(data.get("expect", {}), {t.name for t in threads})
        return Scenario(
            name=name,
            summary=summary.strip(),
            refs=tuple(refs),
            threads=tuple(threads),
            expect=MappingProxyType(expect),
            notes=notes.strip(),
            path=None if self.source.startswith("<") else self.source,
        )

    def build_threads(self, table) -> list[Thread]:
        if table is None:
            raise self.fail("no [threads] table: a scenario needs at least a 'main' thread")
        if not isinstance(table, dict):
            raise self.fail("'threads' must be a table of thread name = [steps]", self.key_line("threads"))
        if MAIN not in table:
            raise self.fail("[threads] has no 'main' thread (the thread that runs main())")
        threads = []
        names = [MAIN] + [n for n in table if n != MAIN]
        for name in names:
            steps = table[name]
            if not _NAME.match(name):
                raise self.fail(
                    f"thread name {name!r} must start with a letter and hold only letters, digits, '_' or '-'",
                    self.key_line(name),
                )
            if not isinstance(steps, list):
                raise self.fail(f"thread {name!r}: steps must be a list of strings", self.key_line(name))
            if not steps:
                raise self.fail(f"thread {name!r} has no steps", self.key_line(name))
            parsed = tuple(self.parse_step(name, i, s) for i, s in enumerate(steps))
            threads.append(Thread(name, parsed))
        return threads

    def parse_step(self, thread: str, index: int, raw) -> Step:
        line = self.step_line(thread, index)
        where = f"thread {thread!r}, step {index + 1}"
        if not isinstance(raw, str):
            raise self.fail(f"{where}: a step must be a string, not {type(raw).__name__}", line)
        text = raw.strip()
        if not text:
            raise self.fail(f"{where}: empty step", line)
        if "\x00" in text:
            raise self.fail(f"{where}: NUL character in step", line)
        words = text.split(None, 1)
        noexcept = False
        if words[0] in MODIFIERS:
            noexcept = True
            if len(words) == 1:
                raise self.fail(f"{where} {text!r}: 'noexcept' must be followed by a C-API step", line)
            words = words[1].split(None, 1)
        op, rest = words[0], (words[1].strip() if len(words) > 1 else "")
        kind = STEP_KINDS.get(op)
        if kind is None:
            close = difflib.get_close_matches(op, list(STEP_KINDS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(STEP_KINDS)})"
            raise self.fail(f"{where}: unknown step {op!r}{hint}", line)
        if noexcept and not kind.api:
            raise self.fail(f"{where} {text!r}: 'noexcept' applies to C-API steps, not to {op!r}", line)
        arg = self.parse_arg(kind.arg, op, rest, f"{where} {text!r}", line)
        return Step(thread, index, text, op, arg, noexcept, line)

    def parse_arg(self, kind: Arg, op: str, rest: str, where: str, line: int | None) -> str | None:
        if kind is Arg.NONE:
            if rest:
                raise self.fail(f"{where}: {op!r} takes no argument", line)
            return None
        if kind is Arg.CODE:
            return self.parse_code(op, rest, where, line)
        if kind is Arg.OPTIONAL_UNTIL:
            if not rest:
                return None
            words = rest.split()
            if len(words) != 2 or words[0] != "until":
                raise self.fail(f"{where}: write 'block' or 'block until EVENT'", line)
            rest = words[1]
        what = {Arg.THREAD: "thread", Arg.EVENT: "event", Arg.LOCK: "lock", Arg.OPTIONAL_UNTIL: "event"}[kind]
        if not rest:
            raise self.fail(f"{where}: {op!r} needs a {what} name", line)
        if not _NAME.match(rest):
            raise self.fail(f"{where}: {rest!r} is not a valid {what} name", line)
        return rest

    def parse_code(self, op: str, rest: str, where: str, line: int | None) -> str:
        """Python source, quoted or not: a quote must be closed, and the code must compile
        (the lab would only find out when ``PyRun_SimpleString`` raises ``SyntaxError``)."""
        if not rest:
            raise self.fail(f"{where}: {op!r} needs the code to run, e.g. {op} \"print(1)\"", line)
        if rest[0] in "\"'":
            if len(rest) < 2 or rest[-1] != rest[0]:
                raise self.fail(f"{where}: unterminated quote: the code opens with {rest[0]} and does not end with it",
                                line)
            rest = rest[1:-1]
        if not rest.strip():
            raise self.fail(f"{where}: {op!r} needs the code to run", line)
        if rest not in self._compiled:
            try:
                compile(rest, f"<{op} step>", "exec", dont_inherit=True)
            except SyntaxError as exc:
                at = f" (line {exc.lineno} of the code)" if exc.lineno and exc.lineno > 1 else ""
                raise self.fail(f"{where}: the Python code does not compile: {exc.msg}{at}", line) from None
            self._compiled.add(rest)
        return rest

    def check_references(self, threads: list[Thread]) -> None:
        names = {t.name for t in threads}
        spawned: dict[str, Step] = {}
        signals: dict[str, Step] = {}
        interps = {t.name for t in threads if any(s.kind == "new_interp" for s in t.steps)}
        for t in threads:
            interp_open = False  # new_interp/end_interp alternate per thread, as fr_outer holds one state
            for s in t.steps:
                where = f"thread {t.name!r}, step {s.index + 1} {s.text!r}"
                if s.kind == "end_interp" and not interp_open:
                    raise self.fail(f"{where}: no sub-interpreter to end: 'end_interp' ends the one an earlier "
                                    "'new_interp' of this thread made", s.line)
                if s.kind == "new_interp" and interp_open:
                    raise self.fail(f"{where}: this thread's sub-interpreter is still alive: one at a time, "
                                    "'end_interp' first", s.line)
                interp_open = {"new_interp": True, "end_interp": False}.get(s.kind, interp_open)
                if STEP_KINDS[s.kind].arg is Arg.THREAD and s.arg not in names:
                    raise self.fail(f"{where}: no thread named {s.arg!r} (threads: {', '.join(sorted(names))})", s.line)
                if s.kind in ("spawn", *STARTS_PYTHON_THREAD):
                    if s.arg == MAIN:
                        raise self.fail(f"{where}: 'main' is already running and cannot be started", s.line)
                    if s.arg == t.name:
                        raise self.fail(f"{where}: a thread cannot start itself", s.line)
                    if s.arg in spawned:
                        first = spawned[s.arg]
                        raise self.fail(f"{where}: thread {s.arg!r} is already started by {first}", s.line)
                    spawned[s.arg] = s
                if s.kind == "new_tstate_in" and s.arg not in interps:
                    raise self.fail(f"{where}: thread {s.arg!r} makes no sub-interpreter (no 'new_interp' step)", s.line)
                if s.kind == "join" and s.arg == t.name:
                    raise self.fail(f"{where}: a thread cannot join itself", s.line)
                if s.kind == "signal":
                    if s.arg in signals:
                        raise self.fail(f"{where}: event {s.arg!r} is already signalled by {signals[s.arg]}", s.line)
                    signals[s.arg] = s
        for t in threads:
            if t.name != MAIN and t.name not in spawned:
                raise self.fail(
                    f"thread {t.name!r} is never started: add 'spawn {t.name}' to another thread", self.key_line(t.name)
                )
            for s in t.steps:
                ev = s.arg if s.kind == "wait" or (s.kind == "block" and s.arg) else None
                if ev is not None and ev not in signals:
                    raise self.fail(
                        f"thread {t.name!r}, step {s.index + 1} {s.text!r}: event {ev!r} is never signalled", s.line
                    )
                if s.kind == "join" and s.arg not in spawned:
                    raise self.fail(
                        f"thread {t.name!r}, step {s.index + 1} {s.text!r}: thread {s.arg!r} is never started", s.line
                    )

    def build_expect(self, table, names: set[str]) -> dict[str, tuple[str, ...]]:
        if not isinstance(table, dict):
            raise self.fail("'expect' must be a table of variant = outcome label(s)", self.key_line("expect"))
        out = {}
        for variant, value in table.items():
            line = self.key_line(variant)
            labels = [value] if isinstance(value, str) else value
            if not isinstance(labels, list) or not labels or not all(isinstance(v, str) for v in labels):
                raise self.fail(f"[expect] {variant}: give an outcome label or a list of them", line)
            for label in labels:
                try:
                    parsed = parse_label(label)
                except LabelError as exc:
                    raise self.fail(f"[expect] {variant}: {exc}", line) from None
                for tname, _ in parsed.threads:
                    if tname not in names:
                        raise self.fail(f"[expect] {variant}: no thread named {tname!r} in {label!r}", line)
            out[variant] = tuple(labels)
        return out


def check_variants(scenario: Scenario, known: list[str] | tuple[str, ...]) -> None:
    """Reject an ``[expect]`` entry for a variant nobody knows (a typo hides a test)."""
    for variant in scenario.expect:
        if variant not in known:
            close = difflib.get_close_matches(variant, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
            src = scenario.path or scenario.name
            raise ScenarioError(f"{src}: [expect] names unknown variant {variant!r}{hint}")
