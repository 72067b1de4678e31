"""``finirace_guard.h`` on real interpreters 3.8-3.13: one embedding program, one mode
per behaviour (tests/guard/guard_embed.cpp), built with each interpreter's own flags.

Each mode is ordered by pipes so that its outcome is deterministic: a foreign
thread attaching after ``Py_Finalize`` is refused; a guard held when finalization
starts makes it wait (the worker still runs Python inside the wait); a thread whose
GIL was released across the bound wakes to a failed "end" and leaves, the warning
on stderr; the C++ RAII restore inside a ``noexcept`` frame fails instead of
aborting, and its destructor parks the thread.  The unguarded program of the same
shape aborts on 3.9-3.13 in the same run, so the test can tell the two apart.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from finirace.guard.header import include_dir
from finirace.lab.build import command, compiler_identity
from finirace.lab.codegen import Program

HERE = Path(__file__).parent
PYENV = Path("/root/.pyenv/versions")
VERSIONS = ["3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0"]


def _interp(version: str):
    from finirace.lab.interpreters import probe

    minor = ".".join(version.split(".")[:2])
    path = PYENV / version / "bin" / f"python{minor}"
    if not path.exists():
        pytest.skip(f"Python {version} is not installed at {path}")
    return probe(path)


@pytest.fixture(scope="module", params=VERSIONS)
def built(request, tmp_path_factory):
    if not compiler_identity("g++"):
        pytest.skip("g++ is not installed")
    interp = _interp(request.param)
    out = tmp_path_factory.mktemp(f"guard-{request.param}") / "guard_embed"
    src = HERE / "guard_embed.cpp"
    prog = Program("guard_embed", "c++", src.read_text(), (), (), ())
    argv = command(prog, interp, src, out)
    argv[argv.index(str(src))] = str(src)
    argv.insert(1, f"-I{include_dir()}")
    argv[1:1] = ["-Wall", "-Wextra", "-Werror"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return interp, out


def _run(built, mode: str, timeout: float = 30, **env):
    interp, binary = built
    e = interp.run_env()
    e.update(env)
    return subprocess.run([str(binary), mode], capture_output=True, text=True, timeout=timeout, env=e,
                          start_new_session=True)


def test_late_attach_is_refused(built):
    p = _run(built, "late-attach")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["finalized", "late attach refused", "guard after exit: refused"]


def test_finalization_waits_for_a_held_guard(built):
    p = _run(built, "wait")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["gate closed", "worker ran Python during the wait", "finalized",
                                     "guard after exit: refused"]
    assert "finirace_guard" not in p.stderr  # released within the bound: no warning


def test_end_fails_after_the_bound_ran_out(built):
    p = _run(built, "timeout", FINIRACE_GUARD_TIMEOUT="0.2")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["finalized", "end failed: detached for good", "guard after exit: refused"]
    warning = [ln for ln in p.stderr.splitlines() if ln.startswith("finirace_guard:")]
    assert len(warning) == 1 and "2 guard(s) still held after 0.2 s" in warning[0], p.stderr


def test_raii_restore_in_noexcept_fails_instead_of_aborting(built):
    p = _run(built, "raii", FINIRACE_GUARD_TIMEOUT="0.2")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["finalized", "restore failed: detached for good", "guard after exit: refused"]


def test_raii_destructor_parks_the_thread(built):
    p = _run(built, "park", FINIRACE_GUARD_TIMEOUT="0.2")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["finalized", "leaving the scope", "guard after exit: refused"]


def test_unguarded_noexcept_restore_still_fails(built):
    """The same shape without the helper: 3.9-3.13 abort, 3.8 blocks for ever in take_gil."""
    interp, _ = built
    if interp.version[:2] == (3, 8):
        with pytest.raises(subprocess.TimeoutExpired):
            _run(built, "unguarded", timeout=2)
        return
    p = _run(built, "unguarded", timeout=10)
    assert p.returncode == -signal.SIGABRT, (p.returncode, p.stderr)
    assert "terminate called without an active exception" in p.stderr
