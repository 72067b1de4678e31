"""Output of a target process kept bounded: the first and last bytes, and a count of the rest.

A target that floods its output (a crash loop printing tracebacks, ``yes``)
must cost time, never memory: 1 GB of output is read as it comes and counted,
and only a head and a tail are kept.  Bytes are decoded with
``errors="replace"``: non-UTF-8 output is shown, never fatal.
"""

from __future__ import annotations

import os
from collections import deque

DEFAULT_HEAD = 16 * 1024
DEFAULT_TAIL = 64 * 1024
CHUNK = 1 << 20  # bytes read from a pipe at once


def read_ready(fd: int, size: int = CHUNK) -> bytes | None:
    """What a non-blocking pipe holds now: None when nothing yet, b"" at its end.

    A pipe that breaks (the other side gone in a way read reports as an error)
    is read as its end: every caller stops listening to it either way.
    """
    try:
        return os.read(fd, size)
    except BlockingIOError:
        return None
    except OSError:
        return b""


class BoundedOutput:
    """A byte stream kept as head and tail only, with a count of every byte seen."""

    def __init__(self, head: int = DEFAULT_HEAD, tail: int = DEFAULT_TAIL) -> None:
        self._head_cap = head
        self._tail_cap = tail
        self._head = bytearray()
        self._tail: deque[bytes] = deque()
        self._tail_len = 0
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_cap - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if not data or self._tail_cap <= 0:
            return
        if len(data) >= self._tail_cap:
            self._tail.clear()
            self._tail.append(bytes(data[-self._tail_cap :]))
            self._tail_len = self._tail_cap
            return
        self._tail.append(bytes(data))
        self._tail_len += len(data)
        while self._tail_len - len(self._tail[0]) >= self._tail_cap:
            self._tail_len -= len(self._tail.popleft())
        # invariant: the tail holds at most tail_cap + one chunk; trimmed on text()

    def text(self) -> str:
        """Head and tail, decoded with replacement, with a marker for what was dropped."""
        tail = b"".join(self._tail)
        if len(tail) > self._tail_cap:
            tail = tail[-self._tail_cap :]
        dropped = self.total - len(self._head) - len(tail)
        head = self._head.decode("utf-8", errors="replace")
        if dropped <= 0:
            return head + tail.decode("utf-8", errors="replace")
        mark = f"\n[... {dropped} bytes of output not kept ...]\n"
        return head + mark + tail.decode("utf-8", errors="replace")
