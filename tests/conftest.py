"""What every test package shares: running the real ``finirace`` command, and the one catalog sweep.

The sweep is the suite's most expensive run: ``tests/commands/test_lab.py``
checks it as a user sees it (the command, its exit status, the store) and
``tests/golden/test_golden.py`` compares its outcomes with the golden file.
Both read the same run, made once per session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parent.parent / "src")
LAB_SCENARIOS = Path(__file__).resolve().parent / "lab" / "scenarios"


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
                              errors="replace",
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


@dataclass(frozen=True)
class Sweep:
    """``finirace lab --catalog seed-hang.toml --all --jobs 2 --timeout 3 --json``, as it ended."""

    env: dict[str, str]  # its private build cache and result store: later commands read the same store
    returncode: int
    stdout: str
    stderr: str

    @property
    def data(self) -> dict:
        return json.loads(self.stdout)


@pytest.fixture(scope="session")
def catalog_sweep(tmp_path_factory) -> Sweep:
    """The bundled catalog and one scenario of the lab's own, on every interpreter found, plain detector."""
    env = dict(os.environ)
    env["FINIRACE_CACHE_DIR"] = str(tmp_path_factory.mktemp("sweep-cache"))
    env["FINIRACE_DB"] = str(tmp_path_factory.mktemp("sweep-store") / "finirace.db")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH", "")) if p)
    env["COLUMNS"] = "200"
    r = subprocess.run([sys.executable, "-m", "finirace", "lab", "--catalog", str(LAB_SCENARIOS / "seed-hang.toml"),
                        "--all", "--jobs", "2", "--timeout", "3", "--json", "--detector", "plain"],
                       env=env, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    return Sweep(env, r.returncode, r.stdout, r.stderr)
