"""The HTML layer every report shares: escaping, one page skeleton, one style sheet.

Why one layer: ``lab --html``, ``check --html``, ``report --html`` and
``audit --html`` all write single files that are attached to bug reports and
opened from CI artifacts, so each carries its own CSS and SVG and loads
nothing (no script, no font, no CDN).  Escaping lives here once: every text
that came from a target, a scenario, a path or a stored run goes through
:func:`esc`, which also turns text that is not valid Unicode (bytes a target
printed, read with ``surrogateescape``) into replacement characters, so the
page is always valid UTF-8.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

STYLE = """
:root { --ink: #1d2430; --muted: #5b6473; --line: #d8dde6; --lane-a: #f5f8fc; --lane-b: #eef3f9;
        --bad: #c62828; --bad-bg: #fdecea; --free: #8e24aa; --free-bg: #f6e8fa; --alloc: #2e7d32;
        --alloc-bg: #e8f5e9; --pre: #f4f5f7; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em 2em; color: var(--ink); }
h1 { font-size: 1.45em; margin: 0 0 .3em; } h2 { font-size: 1.2em; margin: 1.6em 0 .4em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .3em; }
a { color: var(--accent); } .muted { color: var(--muted); }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12.5px; }
pre { background: var(--pre); padding: .6em .8em; overflow-x: auto; border-radius: 4px; margin: .4em 0; }
pre.command { background: #eef3fb; border-left: 3px solid var(--accent); white-space: pre-wrap;
              overflow-wrap: anywhere; }
table.grid { border-collapse: collapse; margin: .5em 0 1em; }
table.grid th, table.grid td { border: 1px solid var(--line); padding: .3em .55em; text-align: left;
                               vertical-align: top; }
table.grid th { background: #e9edf3; }
.badge { display: inline-block; padding: 0 .45em; border-radius: 3px; font-size: 12px; font-weight: 600;
         background: #e4e8ee; }
.kind-memory-error, .grade-no, .fate-bad { background: var(--bad-bg); color: var(--bad); }
.kind-crash, .kind-abort { background: #fff1e0; color: #a04b00; }
.kind-timeout, .grade-weak, .grade-warn, .fate-wait { background: #fff8d6; color: #7a5d00; }
.kind-clean, .grade-yes, .fate-ok { background: #e8f5e9; color: #2e7d32; }
nav.toc { columns: 2; margin: .3em 0 1em; } nav.toc a { display: block; }
section.card { border: 1px solid var(--line); border-radius: 6px; padding: .2em 1em .8em; margin: 1em 0; }
"""


_SURROGATE = re.compile("[\ud800-\udfff]")


def esc(text: object) -> str:
    """``text`` safe inside HTML elements and quoted attributes, and valid UTF-8.

    A lone surrogate is a byte that was not UTF-8 (read with ``surrogateescape``)
    or broken text: either way it becomes U+FFFD, as a browser would show it.
    """
    return html.escape(_SURROGATE.sub("\ufffd", str(text)), quote=True)


def esc_code(text: object) -> str:
    """``text`` escaped as :func:`esc` does, each `quoted` span of it set as code (our advice quotes
    the lines to type so); the backticks are escaped text's own, so no markup can come in with them."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text))


def badge(text: str, cls: str = "") -> str:
    """A small coloured label; ``cls`` must be a class name of ours, never user text."""
    return f'<span class="badge {cls}">{esc(text)}</span>'


def kind_class(label: str) -> str:
    """The CSS class of an outcome label (``memory-error, worker exited`` -> ``kind-memory-error``)."""
    head = label.split(",", 1)[0].strip()
    return f"kind-{head}" if head in ("clean", "crash", "abort", "memory-error", "timeout") else ""


def anchor(*parts: object) -> str:
    """An element id made of our own words and numbers (never user text: ids need no escaping then)."""
    return "-".join(str(p) for p in parts)


def page(title: str, body: str, style: str = "") -> str:
    """A whole self-contained document: ``body`` is HTML already escaped by the caller."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{STYLE}{style}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def write(path: str | Path, document: str) -> None:
    """Write a page (``OSError`` for the caller to turn into one line)."""
    Path(path).write_text(document, encoding="utf-8")
