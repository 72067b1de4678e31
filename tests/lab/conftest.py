"""Shared set-up of the lab tests: real interpreters, a private build cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SCENARIOS = HERE / "scenarios"
PYENV = Path("/root/.pyenv/versions")
RELEASES = {
    (3, 6): PYENV / "3.6.15/bin/python3.6",
    (3, 7): PYENV / "3.7.16/bin/python3.7",
    (3, 8): PYENV / "3.8.18/bin/python3.8",
    (3, 9): PYENV / "3.9.18/bin/python3.9",
    (3, 10): PYENV / "3.10.13/bin/python3.10",
    (3, 11): PYENV / "3.11.7/bin/python3.11",
    (3, 12): PYENV / "3.12.1/bin/python3.12",
    (3, 13): PYENV / "3.13.0/bin/python3.13",
}
DEBUG_311 = Path("/usr/bin/python3.11-dbg")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Builds go to a cache of this test session, never the user's."""
    old = os.environ.get("FINIRACE_CACHE_DIR")
    os.environ["FINIRACE_CACHE_DIR"] = str(tmp_path_factory.mktemp("lab-cache"))
    yield
    if old is None:
        os.environ.pop("FINIRACE_CACHE_DIR", None)
    else:
        os.environ["FINIRACE_CACHE_DIR"] = old


def interpreter(version: tuple[int, int]):
    """The probed interpreter of that version, or a skip saying it is absent."""
    from finirace.lab.interpreters import probe

    path = RELEASES[version]
    if not path.exists():
        pytest.skip(f"Python {version[0]}.{version[1]} is not installed at {path}")
    return probe(path)


def debug_interpreter():
    from finirace.lab.interpreters import probe

    if not DEBUG_311.exists():
        pytest.skip("Debian's python3.11-dbg is not installed (apt-get install python3.11-dbg libpython3.11-dbg)")
    return probe(DEBUG_311)


def scenario(name: str):
    from finirace.scenario.format import load

    return load(SCENARIOS / f"{name}.toml")
