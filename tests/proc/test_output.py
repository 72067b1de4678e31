"""Output kept bounded: a head, a tail and a count, whatever the target prints."""

from __future__ import annotations

import sys

import pytest

from finirace.proc import DEFAULT_HEAD, DEFAULT_TAIL, BoundedOutput, run

PY = sys.executable


def test_one_gigabyte_of_output_is_counted_not_kept():
    r = run(["head", "-c", str(1 << 30), "/dev/zero"], timeout=120)
    assert r.ok and r.stdout_bytes == 1 << 30
    assert len(r.stdout) < DEFAULT_HEAD + DEFAULT_TAIL + 200
    assert "bytes of output not kept" in r.stdout


def test_non_utf8_output_is_replaced():
    r = run([PY, "-c", "import sys; sys.stdout.buffer.write(b'a\\xff\\xfeb'); sys.stderr.buffer.write(b'\\xc3')"])
    assert r.stdout == "a\ufffd\ufffdb" and r.stderr == "\ufffd"


@pytest.mark.parametrize("head,tail", [(4, 4), (0, 8), (8, 0)])
def test_bounded_output_keeps_head_and_tail(head, tail):
    buf = BoundedOutput(head, tail)
    data = bytes(range(48, 48 + 40))
    for i in range(0, len(data), 3):
        buf.feed(data[i : i + 3])
    assert buf.total == 40
    text = buf.text()
    assert text.startswith(data[:head].decode())
    assert text.endswith(data[len(data) - tail :].decode() if tail else "]\n")
    assert "32 bytes of output not kept" in text
