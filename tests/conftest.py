"""What every test package shares: running the real ``finirace`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parent.parent / "src")


class Cli:
    """``python -m finirace ARGS`` in a child process, with its own result store."""

    def __init__(self, store: Path) -> None:
        self.env = dict(os.environ)
        self.env["FINIRACE_DB"] = str(store)
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, self.env.get("PYTHONPATH", "")) if p)

    def __call__(self, *args: str, cwd=None, timeout: float = 300, env: dict | None = None,
                 **kw) -> subprocess.CompletedProcess:
        """Run it; ``env`` replaces the environment whole (start from ``dict(cli.env)``)."""
        return subprocess.run([sys.executable, "-m", "finirace", *map(str, args)], capture_output=True, text=True,
                              env=self.env if env is None else env, cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL,
                              **kw)


    @staticmethod
    def one_line(p: subprocess.CompletedProcess) -> str:
        """The one error line of a bad-input run: exit status 2, no traceback, nothing else printed."""
        assert p.returncode == 2, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
        assert "Traceback" not in p.stderr, p.stderr
        lines = (p.stdout + p.stderr).splitlines()
        assert len(lines) == 1, lines[:20]
        return lines[0]


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path / "finirace-store.db")
