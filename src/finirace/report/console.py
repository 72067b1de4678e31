"""The rich console every command prints through, and the width it fits.

On a terminal rich fits the terminal.  Piped (a CI log, ``| less``) there is
no terminal to ask: the output fits ``$COLUMNS`` when it is set, else
:data:`PIPED_WIDTH` columns, so a log reads without a horizontal scroll.
Reproduction commands are the one exception: they are printed whole on
lines of their own (see :func:`command_line`), since a command wrapped in
two is a command that cannot be pasted.
"""

from __future__ import annotations

import os
import sys

PIPED_WIDTH = 100


def fit_width(stream=None) -> int:
    """Columns to fit: the terminal's, else ``$COLUMNS``, else :data:`PIPED_WIDTH`."""
    stream = sys.stdout if stream is None else stream
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) >= 40:
        return int(columns)
    if stream.isatty():
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (OSError, ValueError):
            pass
    return PIPED_WIDTH


def console(stderr: bool = False, width: int | None = None, **kwargs):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if width is None and not stream.isatty():
        width = fit_width(stream)
    return Console(file=stream, width=width, **kwargs)


def command_line(out, label: str, command: str) -> None:
    """``label: COMMAND`` on one line, never wrapped, whatever the width (``out``: a rich Console)."""
    out.print(f"{label}: {command}", markup=False, highlight=False, soft_wrap=True)
