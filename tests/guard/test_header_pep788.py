"""``finirace_guard.h``'s 3.15 branch, where every name maps to PEP 788: a compile check.

No CPython 3.15 is installed, so the branch is compiled against a stand-in
``Python.h`` (tests/guard/pep788/): an installed release's real headers with
``PY_VERSION_HEX`` raised to 3.15 and PEP 788's API declared as merged, with
opaque guard, view and token types handed out as pointers.  ``uses.c`` calls
every name of the header as an extension would and asserts that each
``FiniRace`` type is PEP 788's; it is compiled as C and as C++ with warnings as
errors, so a call that passes a view where a guard goes, or keeps a token as a
guard, fails the build.  Each of three wrong signatures in the stand-in
(``FR_MUTATE``) must break it, or the check could not see such a mistake.
This compiles and never links or runs: what the mapped calls do on a real 3.15
is PEP 788's, checked in the model (``guards`` era), not here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from finirace.guard.header import include_dir
from finirace.lab.build import compiler_identity

HERE = Path(__file__).parent
STANDIN = HERE / "pep788"
PYENV = Path("/root/.pyenv/versions")
LANGUAGES = {"c": ["gcc", "-std=c11"], "c++": ["g++", "-std=c++11", "-x", "c++"]}


def _python_include() -> Path:
    """An installed release's headers (the newest 3.8-3.13 found): all but PEP 788 is real."""
    for version in ("3.13.0", "3.12.1", "3.11.7", "3.10.13", "3.9.18", "3.8.18"):
        minor = ".".join(version.split(".")[:2])
        include = PYENV / version / "include" / f"python{minor}"
        if (include / "Python.h").is_file():
            return include
    pytest.skip("no CPython 3.8-3.13 headers under /root/.pyenv/versions")


def _compile(language: str, tmp_path: Path, *defines: str) -> subprocess.CompletedProcess:
    compiler, *flags = LANGUAGES[language]
    if not compiler_identity(compiler):
        pytest.skip(f"{compiler} is not installed")
    argv = [compiler, *flags, "-Wall", "-Wextra", "-Werror", *defines,
            f"-I{STANDIN}", f"-I{include_dir()}", f"-I{_python_include()}",
            "-c", str(STANDIN / "uses.c"), "-o", str(tmp_path / f"uses-{language}.o")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_315_branch_compiles_against_pep_788(language, tmp_path):
    p = _compile(language, tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / f"uses-{language}.o").stat().st_size > 0


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("mutation, call", [
    (1, "PyInterpreterGuard_FromView"),  # returns a token, not a guard
    (2, "PyThreadState_Ensure"),  # takes a view, not a guard
    (3, "PyThreadState_Release"),  # takes a guard, not a token
])
def test_a_wrong_signature_breaks_the_build(language, mutation, call, tmp_path):
    p = _compile(language, tmp_path, f"-DFR_MUTATE={mutation}")
    assert p.returncode != 0, f"the header compiled against a wrong {call}"
    errors = [ln for ln in p.stderr.splitlines() if "error" in ln]
    assert errors and all("finirace_guard.h" in ln for ln in errors if ": error:" in ln), p.stderr
    assert call in p.stderr or "FiniRaceGuard" in p.stderr, p.stderr
