"""examples/guarded_ext on real interpreters 3.9-3.13, through ``finirace stress``.

Daemon threads multiply matrices with the GIL released (a noexcept function, the
GIL taken back by a destructor, as in PyTorch and pybind11's gil_scoped_release)
while the program exits.  The unguarded builds abort at exit (pthread_exit through
the noexcept frame, std::terminate) in the same test run in which the guarded
builds (finirace_guard.h) come through 200 runs each without a failure: 40 per
interpreter, for the C API module and for the pybind11 one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from finirace.store import Store

pytest.importorskip("pybind11")
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "guarded_ext"
PYENV = Path("/root/.pyenv/versions")
VERSIONS = ["3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0"]
GUARDED_RUNS = 40  # x 5 interpreters = 200 per module

pytestmark = pytest.mark.slow


def _python(version: str) -> Path:
    minor = ".".join(version.split(".")[:2])
    path = PYENV / version / "bin" / f"python{minor}"
    if not path.exists():
        pytest.skip(f"Python {version} is not installed at {path}")
    return path


@pytest.fixture(scope="module", params=VERSIONS)
def built(request, tmp_path_factory):
    python = _python(request.param)
    out = tmp_path_factory.mktemp(f"ext-{request.param}")
    sys.path.insert(0, str(EXAMPLE))
    try:
        import build as example_build
    finally:
        sys.path.remove(str(EXAMPLE))
    example_build.build(str(python), out)
    return python, out


def _stress(python: Path, folder: Path, module: str, runs: int, db: Path) -> dict[str, int]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(folder)]))
    argv = [sys.executable, "-m", "finirace", "stress", "--runs", str(runs), "-j", "2", "--timeout", "30",
            "--seed", "7", "--db", str(db), "--campaign", f"{module}-{folder.name}", "--",
            str(python), str(EXAMPLE / "run.py"), module, "80"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60 + 3 * runs, env=env)
    assert p.returncode in (0, 1), p.stderr
    with Store(db) as store:
        campaign = store.campaign(f"{module}-{folder.name}")
        assert campaign is not None and store.run_count(campaign.id) == runs
        return store.kind_counts(campaign.id)


@pytest.mark.parametrize("module", ["matmul_ext", "matmul_pb"])
def test_unguarded_build_aborts_at_exit(built, module, tmp_path):
    python, out = built
    kinds = _stress(python, out / "unguarded", module, 4, tmp_path / "s.db")
    assert kinds.get("abort", 0) >= 1, kinds


@pytest.mark.parametrize("module", ["matmul_ext", "matmul_pb"])
def test_guarded_build_never_fails(built, module, tmp_path):
    python, out = built
    kinds = _stress(python, out / "guarded", module, GUARDED_RUNS, tmp_path / "s.db")
    assert kinds == {"clean": GUARDED_RUNS}, kinds

