"""Argument types the commands share, so that a bad number reads the same everywhere.

argparse turns an ``ArgumentTypeError`` into ``finirace CMD: error: argument
--runs: must be at least 1, got 0`` (one line, exit 2, through ``cli.Parser``).
"""

from __future__ import annotations

import argparse
import re

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600}


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def natural(text: str) -> int:
    """A whole number, 0 or more."""
    n = _whole(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


def positive(text: str) -> int:
    """A whole number, 1 or more."""
    n = _whole(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def duration(text: str) -> float:
    """Seconds, more than 0: ``90``, ``2.5``, ``90s``, ``5m``, ``1h``."""
    m = _DURATION.fullmatch(text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (more than 0: e.g. 90, 2.5, 90s, 5m, 1h)")
    return float(m.group(1)) * _UNIT[m.group(2)]


CAMPAIGN_NAME_MAX = 100


def campaign_name(text: str) -> str:
    """A campaign name: it is shown in tables and typed back on command lines, so one short line."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the name is empty")
    if len(text) > CAMPAIGN_NAME_MAX:
        raise argparse.ArgumentTypeError(f"the name has {len(text)} characters; at most {CAMPAIGN_NAME_MAX}")
    bad = next((c for c in text if not c.isprintable()), None)
    if bad is not None:
        raise argparse.ArgumentTypeError(f"the name holds a control character ({bad!r}): use letters, digits, - and _")
    return text
