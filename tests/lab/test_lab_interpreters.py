"""Interpreter discovery and embed flags, on the interpreters installed here."""

from __future__ import annotations

import os
import stat

import pytest

from finirace.errors import UsageError
from finirace.lab import interpreters

from .conftest import DEBUG_311, PYENV, RELEASES, interpreter


def test_discover_finds_every_installed_release_and_the_debug_build():
    found = interpreters.discover()
    versions = {(i.version[0], i.version[1]) for i in found if i.can_embed and not i.debug}
    for v, path in RELEASES.items():
        if path.exists():
            assert v in versions, f"{path} not found"
    if DEBUG_311.exists():
        debug = [i for i in found if i.debug]
        assert debug and debug[0].version[:2] == (3, 11) and debug[0].can_embed
    # one entry per real binary
    exes = [i.executable for i in found if i.executable]
    assert len(exes) == len(set(exes))


def test_python_2_is_listed_with_a_reason_not_an_error():
    py27 = PYENV / "2.7.18/bin/python2.7"
    if not py27.exists():
        pytest.skip("Python 2.7 is not installed here")
    i = interpreters.probe(py27)
    assert not i.can_embed
    assert i.version == (2, 7, 18)
    assert "not supported" in i.reason


def test_a_file_that_is_not_python_has_a_reason(tmp_path):
    fake = tmp_path / "python3.99"
    fake.write_text("#!/bin/sh\necho no\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    i = interpreters.probe(fake)
    assert not i.can_embed and "not a working Python" in i.reason
    assert interpreters.probe(tmp_path / "absent").reason == "no such file"


def test_missing_python_path_is_a_usage_error():
    with pytest.raises(UsageError, match="no such interpreter"):
        interpreters.resolve(["/no/such/python3"], all_found=False)


@pytest.mark.parametrize("version", [(3, 6), (3, 7), (3, 8), (3, 13)])
def test_embed_flags_link_the_shared_library_with_an_rpath(version):
    i = interpreter(version)
    assert i.can_embed, i.reason
    lib = f"-lpython{version[0]}.{version[1]}" + ("m" if version < (3, 8) else "")
    assert lib in i.ldflags
    assert f"-Wl,-rpath,{i.libdir}" in i.ldflags
    assert any(f.startswith("-I") for f in i.cflags)
    assert not i.debug


def test_debug_build_is_told_apart():
    if not DEBUG_311.exists():
        pytest.skip("python3.11-dbg is not installed")
    i = interpreters.probe(DEBUG_311)
    assert i.debug and i.label.endswith("-debug") and "-lpython3.11d" in i.ldflags


def test_run_env_points_the_program_at_its_stdlib_and_drops_python_settings():
    i = interpreter((3, 11))
    env = i.run_env({"PYTHONPATH": "/elsewhere", "HOME": "/root"})
    assert "PYTHONPATH" not in env and env["HOME"] == "/root"
    assert env["FINIRACE_PYTHONHOME"].split(":")[0] == i.prefix
    assert os.path.isdir(os.path.join(i.prefix, "lib", "python3.11"))
