"""The .pth hook: written into a real venv, it installs the guard only when FINIRACE_GUARD says so."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig

import pytest

from finirace.guard import pth

from .programs import SRC

DAEMON = "import threading, time\nthreading.Thread(target=time.sleep, args=(0.2,), daemon=True).start()\n"


@pytest.fixture
def venv(tmp_path):
    home = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    python = str(home / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    return python, site


def _run(python, **env):
    full = {k: v for k, v in os.environ.items() if not k.startswith("FINIRACE_")}
    full.update(PYTHONPATH=SRC, **env)
    return subprocess.run([python, "-c", DAEMON], capture_output=True, text=True, env=full, timeout=60)


def test_the_hook_guards_every_start_of_the_venv_when_the_variable_is_set(venv):
    python, site = venv
    r = subprocess.run([sys.executable, "-m", "finirace.guard.pth", "install", "--site", site],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC})
    assert r.returncode == 0, r.stderr
    assert (open(os.path.join(site, pth.PTH_NAME)).read()) == pth.PTH_LINE
    on = _run(python, FINIRACE_GUARD="1", FINIRACE_GUARD_VERBOSE="1")
    assert "finirace guard: stop: 1 daemon thread(s) told, 1 ended" in on.stderr, on.stderr
    off = _run(python, FINIRACE_GUARD_VERBOSE="1")
    assert off.returncode == 0 and "finirace guard" not in off.stderr, off.stderr
    bad = _run(python, FINIRACE_GUARD="freeze")
    assert bad.returncode == 0
    assert bad.stderr.strip() == "finirace guard: not installed: FINIRACE_GUARD must be 1, stop or park, got 'freeze'"
    assert pth.uninstall(site) is not None and pth.uninstall(site) is None
    assert "finirace guard" not in _run(python, FINIRACE_GUARD="1", FINIRACE_GUARD_VERBOSE="1").stderr


def test_the_hook_is_harmless_once_finirace_is_gone(venv):
    python, site = venv
    pth.install(site)
    full = {k: v for k, v in os.environ.items() if not k.startswith(("FINIRACE_", "PYTHON"))}
    r = subprocess.run([python, "-I", "-c", "pass"], capture_output=True, text=True, timeout=60,
                       env={**full, "FINIRACE_GUARD": "1"})
    # -I: no user site, no PYTHONPATH; the venv has no finirace: the ImportError is caught
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_a_missing_site_directory_is_one_line_and_status_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "finirace.guard.pth", "install", "--site", str(tmp_path / "nope")],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC})
    assert r.returncode == 2
    assert r.stderr.strip() == f"finirace guard: cannot install the hook: not a site-packages directory: {tmp_path / 'nope'}"
    assert sysconfig.get_paths()["purelib"] == pth.default_site()
