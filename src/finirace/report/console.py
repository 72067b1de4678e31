"""The rich console every command prints through.

On a terminal rich fits the terminal.  Piped into a CI log it would assume 80
columns and wrap every table cell; a log has no width, so there the tables get
room to keep one row per line.
"""

from __future__ import annotations

import sys

PIPED_WIDTH = 160


def console(stderr: bool = False, width: int | None = None, **kwargs):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if width is None and not stream.isatty():
        width = PIPED_WIDTH
    return Console(file=stream, width=width, **kwargs)
