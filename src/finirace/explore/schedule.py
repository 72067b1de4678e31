"""Schedule tokens: a run of the explorer written as a short, pasteable string.

Why a token and not a list: a counterexample travels in bug reports, CI logs and
chat, so it must survive copy and paste and say which format it is in.  The
token is versioned (``v1.``), then run-length encoded thread choices: each run
is a letter naming the thread by its index in ``System.threads`` (``a`` is
``main``), followed by how many steps it takes in a row when more than one.
``v1.a4b2a3`` is: main takes 4 steps, thread 1 takes 2, main takes 3.

The token says nothing about the scenario it came from: whether it fits is
decided by replaying it (every choice must name an enabled thread, and the run
must end exactly where the token does), see :mod:`finirace.explore.replay`.
"""

from __future__ import annotations

import re
import string
from typing import Sequence

from finirace.errors import UsageError

VERSION = "v1"
_LETTERS = string.ascii_lowercase
_RUN = re.compile(r"([a-z])(\d*)")
MAX_THREADS = len(_LETTERS)


class ScheduleError(UsageError):
    """A token that is malformed or does not fit the scenario it is replayed on."""


def encode(choices: Sequence[int]) -> str:
    """The token of a sequence of thread indices."""
    parts: list[str] = []
    prev, count = -1, 0
    for c in choices:
        if not 0 <= c < MAX_THREADS:
            raise ValueError(f"thread index {c} cannot be written in a schedule token")
        if c == prev:
            count += 1
            continue
        if count:
            parts.append(_LETTERS[prev] + (str(count) if count > 1 else ""))
        prev, count = c, 1
    if count:
        parts.append(_LETTERS[prev] + (str(count) if count > 1 else ""))
    return f"{VERSION}." + "".join(parts)


def decode(token: str, max_steps: int = 1_000_000) -> tuple[int, ...]:
    """The thread indices of a token; a malformed token is a :class:`ScheduleError`."""
    text = token.strip()
    version, dot, body = text.partition(".")
    if not dot or not version.startswith("v"):
        raise ScheduleError(f"schedule {token!r} is not a finirace schedule (it starts with {VERSION}.)")
    if version != VERSION:
        raise ScheduleError(f"schedule {token!r} is in format {version!r}; this finirace reads {VERSION!r}")
    out: list[int] = []
    pos = 0
    while pos < len(body):
        m = _RUN.match(body, pos)
        if not m:
            raise ScheduleError(f"schedule {token!r}: unexpected {body[pos]!r} at character {len(version) + 2 + pos}")
        count = int(m.group(2)) if m.group(2) else 1
        if count == 0:
            raise ScheduleError(f"schedule {token!r}: a run of 0 steps at character {len(version) + 2 + pos}")
        if len(out) + count > max_steps:
            raise ScheduleError(f"schedule {token!r} is longer than {max_steps} steps")
        out.extend([_LETTERS.index(m.group(1))] * count)
        pos = m.end()
    return tuple(out)


def thread_letter(index: int) -> str:
    """How a thread index is written in a token (for legends in reports)."""
    return _LETTERS[index]
