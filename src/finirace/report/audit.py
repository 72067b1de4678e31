"""An audit's threads as lines of text: what ``finirace audit`` prints, and ``pytest --finirace-audit`` too.

One place words the findings (stacks, states, per-era fates, danger flags,
the fix), so the command and the pytest plugin cannot drift apart.  A line
is a tuple of (text, style) segments, style one of ``""``, ``"bold"``,
``"red"``, ``"green"``: the command renders them with rich, the plugin with
pytest's terminal writer.  No markup is ever inside the text.
"""

from __future__ import annotations

from typing import Iterable, Sequence

Segment = tuple[str, str]
Line = tuple[Segment, ...]

STACK_SHOWN = 12  # native frames of a thread shown in a terminal (the HTML page has them all)


def frames_text(frames, limit: int = STACK_SHOWN) -> str:
    """``f <- g (guess) <- h [c++] <- … 3 more``: innermost first."""
    names = [f.function + (" (guess)" if f.guess else "") + (f" [{f.language}]" if f.language in ("c++", "rust") else "")
             for f in frames]
    more = f" <- … {len(names) - limit} more" if len(names) > limit else ""
    return " <- ".join(names[:limit]) + more


def thread_lines(threads: Sequence, fix: str | None = None) -> list[Line]:
    """Each thread: a blank line, its name, Python and native stack tops, its fate per era, flags, the fix
    (``fix`` words it for where the program runs, e.g. a pytest session, when there is one)."""
    out: list[Line] = []
    for t in threads:
        out.append(())
        out.append(((t.name, "bold"), (f" ({'daemon' if t.daemon else 'non-daemon'}"
                                         f"{', ' + t.state if t.state else ''})", "")))
        if t.python_stack:
            out.append((("  python: " + t.python_stack[-1].strip().splitlines()[0], ""),))
        if t.native_stack:
            out.append((("  native: " + frames_text(t.native_stack), ""),))
        for era, versions, fate in t.predictions:
            out.append(((f"  {era:8} {versions:9} {fate}", ""),))
        for flag in t.flags:
            out.append((("  ", ""), ("danger", "red"), (f": {flag}", "")))
        if t.fix:
            out.append(((f"  {fix or t.fix}", "green"),))
    return out


def dangers(threads: Iterable) -> int:
    """How many danger flags the threads carry (the command exits 1 when there is any)."""
    return sum(len(t.flags) for t in threads)
