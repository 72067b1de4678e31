"""The PYTHONPATH way: guard/site/sitecustomize.py guards any 3.8+ interpreter without finirace installed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .programs import SRC, pythons

SITE = str(Path(SRC) / "finirace" / "guard" / "site")
DAEMON = "import threading, time, sys\nthreading.Thread(target=time.sleep, args=(0.2,), daemon=True).start()\n"


def _run(python, tmp_path, **env):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("FINIRACE_", "PYTHON"))}
    full.update(env)
    return subprocess.run([python, "-c", DAEMON + "print(sys.path.count(%r))" % SRC], capture_output=True,
                          text=True, env=full, timeout=60, cwd=tmp_path)


@pytest.mark.parametrize("python", pythons())
def test_sitecustomize_installs_the_guard_and_leaves_sys_path_alone(python, tmp_path):
    # an editable install of finirace into this interpreter puts its source on sys.path on its own
    before = _run(python, tmp_path).stdout.strip()
    r = _run(python, tmp_path, PYTHONPATH=SITE, FINIRACE_GUARD="park", FINIRACE_GUARD_VERBOSE="1")
    assert r.returncode == 0, r.stderr
    assert "finirace guard: park: 1 daemon thread(s) told, 0 ended, 1 parked" in r.stderr, r.stderr
    assert r.stdout.strip() == before  # finirace's source was on sys.path only while the guard was imported


def test_sitecustomize_chains_to_the_one_it_shadows(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import sys; sys.stderr.write('theirs ran\\n')\n")
    python = pythons()[-1].values[0]
    if not os.path.exists(python):
        pytest.skip("needs CPython 3.13")
    r = _run(python, tmp_path, PYTHONPATH=os.pathsep.join([SITE, str(other)]), FINIRACE_GUARD="1",
             FINIRACE_GUARD_VERBOSE="1")
    assert "theirs ran" in r.stderr and "finirace guard: stop: 1 daemon thread(s) told, 1 ended" in r.stderr, r.stderr
