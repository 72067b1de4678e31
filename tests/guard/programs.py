"""Interpreters the guard is tested on, and a way to run a guarded program on each."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
PYENV = Path("/root/.pyenv/versions")
VERSIONS = ("3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0")


def interpreter(version: str) -> str:
    return str(PYENV / version / "bin" / f"python{version.rsplit('.', 1)[0]}")


def pythons():
    """One pytest param per installed interpreter 3.8-3.13 (skipped when missing)."""
    return [
        pytest.param(interpreter(v), id=v,
                     marks=pytest.mark.skipif(not os.path.exists(interpreter(v)), reason=f"needs CPython {v}"))
        for v in VERSIONS
    ]


def run_python(python: str, code: str, env: dict[str, str] | None = None, timeout: float = 60):
    """Run ``code`` from a file with ``python``; finirace's source importable; the completed process."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("FINIRACE_", "PYTHON"))}
    full.update(env or {})
    prelude = f"import sys; sys.path.insert(0, {SRC!r})\n"
    with tempfile.TemporaryDirectory(prefix="finirace-guard-") as tmp:
        script = Path(tmp) / "prog.py"
        script.write_text(prelude + code)
        return subprocess.run([python, str(script)], capture_output=True, text=True, env=full, timeout=timeout)
