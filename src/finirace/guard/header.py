"""Where ``finirace_guard.h`` lives once installed, for build systems and the lab.

The header ships as package data (``guard/include/``), the way pybind11 ships its
headers: ``finirace guard --include`` prints the directory, and code that builds
against it (the lab's generated programs, the example extension) asks here.
"""

from __future__ import annotations

from pathlib import Path

HEADER = "finirace_guard.h"


def include_dir() -> Path:
    """The directory holding ``finirace_guard.h`` (pass it to the compiler with ``-I``)."""
    return Path(__file__).resolve().parent / "include"


def header_path() -> Path:
    return include_dir() / HEADER
