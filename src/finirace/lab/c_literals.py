"""Scenario text inside generated C: string literals and comments it cannot break out of.

Scenario files come from users and bug reports; their text (Python code,
thread and step names) ends up in the program, so every byte outside plain
printable ASCII (and ``"``, ``\\``, ``?`` against trigraphs) is escaped in octal,
and comments lose ``*/``, ``/*`` and control characters.
"""

from __future__ import annotations


def c_string(text: str) -> str:
    """``text`` as a C string literal that no content can escape from."""
    out = ['"']
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if 0x20 <= byte < 0x7F and ch not in '"\\?':
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    out.append('"')
    return "".join(out)


def c_comment(text: str) -> str:
    """Text made safe inside ``/* ... */``: printable ASCII, no ``*/``, no line breaks."""
    safe = "".join(c if 0x20 <= ord(c) < 0x7F else "?" for c in text)
    while "*/" in safe or "/*" in safe:
        safe = safe.replace("*/", "* /").replace("/*", "/ *")
    return safe
