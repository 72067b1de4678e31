"""Writing ``[expect]`` entries back into a scenario file, leaving the rest of it as it was.

``finirace check --write-expect`` explores scenarios and records what the model
reaches as their expectations (how a new era gets its entries in every catalog
file).  This module only edits text: it knows labels as strings, not what they
mean.  Why by hand and not through a TOML writer: only whole ``variant = [...]``
entries of one table change, the rest of the file (comments, notes, the order
of keys) must stay byte for byte, and every result is read back with the TOML
parser and refused unless it holds exactly the old data with the new entries.
"""

from __future__ import annotations

import json
import re
from typing import Mapping, Sequence

from finirace.scenario.format import ScenarioError, tomllib

_HEADER = re.compile(r"^\s*\[\s*expect\s*\]\s*(#.*)?$")
_TABLE = re.compile(r"^\s*\[")
_KEY = re.compile(r"""^\s*(?:"([^"\\]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*=(.*)$""")


def expect_entry(variant: str, labels: Sequence[str]) -> str:
    """One ``[expect]`` line as the catalog writes them: ``exit = ["clean", "clean, worker exited"]``, one label bare."""
    key = variant if re.fullmatch(r"[A-Za-z0-9_-]+", variant) else json.dumps(variant)
    value = labels[0] if len(labels) == 1 else list(labels)
    return f"{key} = {json.dumps(value, ensure_ascii=False)}"


def _value_lines(lines: list[str], first: int, value: str) -> int:
    """How many lines the value starting on ``lines[first]`` spans (multi-line arrays)."""
    depth, quote, i, text = 0, "", first, value
    while True:
        escaped = False
        for ch in text:
            if quote:
                if quote == '"' and ch == "\\" and not escaped:
                    escaped = True
                    continue
                if ch == quote and not escaped:
                    quote = ""
                escaped = False
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                break
            elif ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
        if depth <= 0 or i + 1 >= len(lines):
            return i - first + 1
        i += 1
        text = lines[i]


def with_expectations(text: str, entries: Mapping[str, Sequence[str]], order: Sequence[str],
                      source: str = "<scenario>") -> str:
    """``text`` with each ``entries`` variant's ``[expect]`` entry set, in ``order`` among the others.

    An entry that exists is replaced where it stands; a new one goes after the
    entry of the variant before it in ``order`` (or first); a file without
    ``[expect]`` gets the table at its end.
    """
    if text and not text.endswith("\n"):
        text += "\n"
    lines = text.splitlines(keepends=True)
    header = next((i for i, ln in enumerate(lines) if _HEADER.match(ln)), None)
    if header is None:
        body = "".join(expect_entry(v, entries[v]) + "\n" for v in order if v in entries)
        body += "".join(expect_entry(v, ls) + "\n" for v, ls in entries.items() if v not in order)
        result = f"{text}\n[expect]\n{body}"
    else:
        end = next((i for i in range(header + 1, len(lines)) if _TABLE.match(lines[i])), len(lines))
        spans: dict[str, tuple[int, int]] = {}  # variant -> (first line, line count)
        i = header + 1
        while i < end:
            m = _KEY.match(lines[i])
            if m is None:
                i += 1
                continue
            n = _value_lines(lines, i, m.group(4))
            spans[m.group(1) or m.group(2) or m.group(3)] = (i, n)
            i += n
        rank = {v: k for k, v in enumerate(order)}
        inserts: dict[int, list[tuple[int, str]]] = {}
        replaced: dict[int, tuple[int, str]] = {}
        for variant, labels in entries.items():
            line = expect_entry(variant, labels) + "\n"
            if variant in spans:
                first, n = spans[variant]
                replaced[first] = (n, line)
                continue
            before = [spans[v] for v in spans if rank.get(v, len(order)) < rank.get(variant, len(order))]
            at = max((f + n for f, n in before), default=header + 1)
            inserts.setdefault(at, []).append((rank.get(variant, len(order)), line))
        out: list[str] = []
        i = 0
        while i <= len(lines):
            out.extend(line for _, line in sorted(inserts.get(i, ())))
            if i == len(lines):
                break
            if i in replaced:
                n, line = replaced[i]
                out.append(line)
                i += n
                continue
            out.append(lines[i])
            i += 1
        result = "".join(out)
    _check_same_but(text, result, entries, source)
    return result


def _check_same_but(before: str, after: str, entries: Mapping[str, Sequence[str]], source: str) -> None:
    """The rewrite holds the old data with exactly the new entries, or it is refused."""
    try:
        old, new = tomllib.loads(before), tomllib.loads(after)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: cannot rewrite [expect] in place ({exc})") from None
    want = dict(old)
    expect = dict(want.get("expect", {}))
    expect.update({v: ls[0] if len(ls) == 1 else list(ls) for v, ls in entries.items()})
    want["expect"] = expect
    if new != want:
        raise ScenarioError(f"{source}: cannot rewrite [expect] in place (its layout is not one this tool edits)")
