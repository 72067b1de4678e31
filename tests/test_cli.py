"""Bad input, end to end: every case runs the real command and gets one line and exit status 2.

Each case is something a new user typed or a file someone handed them; the
command must name the problem in one line on stderr, print no traceback,
write nothing to stdout and leave nothing behind.  Then the help: written for
users, and ``finirace --help`` imports none of what the commands run on.
"""

from __future__ import annotations

import sys
import subprocess
import time

import pytest



@pytest.fixture
def env(cli, tmp_path):
    """The child's environment, for the cases that change it."""
    return dict(cli.env)


@pytest.mark.parametrize("command", ["check", "lab"])
def test_a_scenario_path_longer_than_the_system_allows(cli, env, tmp_path, command):
    for ref in ("a" * 300, "a/" * 3000 + "b", "a" * 300 + ".toml"):
        line = cli.one_line(cli(command, ref, env=env, cwd=tmp_path))
        assert "File name too long" in line and len(line) < 400


def test_a_toml_file_nested_3000_arrays_deep(cli, env, tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("name = " + "[" * 3000 + "]" * 3000 + "\n")
    line = cli.one_line(cli("check", str(deep), env=env))
    assert str(deep) in line and "nested too deeply" in line


def test_dask_address_with_nobody_there_is_one_line_within_10_s(cli, env, tmp_path):
    pytest.importorskip("distributed")
    start = time.monotonic()
    p = cli("stress", "--dask", "tcp://127.0.0.1:1", "--runs", "1", "--", sys.executable, "-c", "pass", env=env)
    took = time.monotonic() - start
    assert "tcp://127.0.0.1:1" in cli.one_line(p)
    assert took < 10, took


def test_dask_address_that_is_no_address(cli, env):
    pytest.importorskip("distributed")
    line = cli.one_line(cli("stress", "--dask", "notaurl", "--runs", "1", "--", sys.executable, "-c", "pass", env=env))
    assert "notaurl" in line and "not a scheduler address" in line


def test_db_in_a_missing_directory_is_refused_not_created(cli, env, tmp_path):
    where = tmp_path / "nonexistent" / "dir" / "x.db"
    line = cli.one_line(cli("stress", "--db", str(where), "--runs", "1", "--", sys.executable, "-c", "pass", env=env))
    assert str(where.parent) in line
    assert not where.parent.exists() and not where.parent.parent.exists()
    env["FINIRACE_DB"] = str(where)
    assert str(where.parent) in cli.one_line(cli("runs", env=env))
    assert not where.parent.parent.exists()


def test_the_default_store_gets_its_directory(cli, env, tmp_path):
    del env["FINIRACE_DB"]
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    p = cli("runs", env=env)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "data" / "finirace" / "finirace.db").exists()


@pytest.mark.parametrize("command", [("runs",), ("lab", "seed")])
def test_finirace_db_that_is_not_a_database_is_named(cli, env, tmp_path, command):
    """`lab seed` would move a run under valgrind and say so: the bad store must still be the one line."""
    (tmp_path / "garbage.db").write_text("garbage\n" * 100)
    env["FINIRACE_DB"] = "garbage.db"
    line = cli.one_line(cli(*command, env=env, cwd=tmp_path))
    assert "FINIRACE_DB=garbage.db" in line and "not a database" in line


def test_lab_db_in_a_missing_directory_is_the_one_line(cli, env, tmp_path):
    where = tmp_path / "nonexistent" / "dir" / "x.db"
    line = cli.one_line(cli("lab", "seed", "--db", str(where), env=env))
    assert str(where.parent) in line
    assert not where.parent.parent.exists()


def test_python_that_is_not_python_does_not_echo_the_probe(cli, env):
    line = cli.one_line(cli("lab", "seed", "--python", "/bin/ls", "--no-store", env=env))
    assert "/bin/ls" in line and "not a working Python" in line
    assert "import" not in line and "sysconfig" not in line and "$'" not in line


@pytest.mark.parametrize("name", ["x" * 10_000, "two\nlines", "bell\x07", "tab\there", " "])
@pytest.mark.parametrize("command", ["stress", "lab"])
def test_campaign_names_are_checked(cli, env, command, name):
    args = ["stress", "--campaign", name, "--runs", "1", "--", sys.executable, "-c", "pass"] if command == "stress" \
        else ["lab", "seed", "--campaign", name]
    line = cli.one_line(cli(*args, env=env))
    assert "--campaign" in line


def test_emit_c_with_html_refuses_instead_of_ignoring(cli, env, tmp_path):
    line = cli.one_line(cli("lab", "seed", "--emit-c", str(tmp_path / "x.c"), "--html", str(tmp_path / "y.html"),
                             env=env))
    assert "--emit-c" in line and "--html" in line
    assert not (tmp_path / "x.c").exists() and not (tmp_path / "y.html").exists()


@pytest.mark.parametrize("command", ["", "check", "lab", "pythons", "stress", "audit", "runs", "report"])
def test_help_is_written_for_users(cli, command):
    p = cli(*([command] if command else []), "--help")
    assert p.returncode == 0, p.stderr
    text = p.stdout
    assert "usage: finirace" in text
    for raw in ("``", ":func:", ":class:", ":mod:", "finirace.commands", "sub-command per module", "register("):
        assert raw not in text, (command, raw)


# What a command imports when it runs, never to build its parser (bench/startup.py measures the cost).
# The detector registry is read for the --detector choices, and stays light for that reason.
HEAVY = ("rich", "sqlite3", "finirace.store", "finirace.outcome", "finirace.model", "finirace.explore",
         "finirace.lab", "finirace.report", "finirace.stress", "finirace.audit", "finirace.scenario",
         "finirace.campaign", "finirace.conformance", "finirace.proc", "finirace.detectors.base",
         "finirace.detectors.valgrind", "finirace.detectors.gdb", "distributed")


def test_help_lists_every_command_and_imports_nothing_heavy():
    from finirace.cli import COMMANDS

    code = (
        "import sys\n"
        "from finirace import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in sys.modules if m in {HEAVY!r} or m.startswith(tuple(h + '.' for h in {HEAVY!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    listed = {line.split()[0] for line in lines if line.startswith("    ") and line.split()}
    assert set(COMMANDS) <= listed
    assert lines[-1] == "[]"


def test_emit_c_for_many_scenarios_refuses_instead_of_writing_the_first(cli, tmp_path):
    line = cli.one_line(cli("lab", "--catalog", "--emit-c", tmp_path / "x.c"))
    assert "--emit-c" in line and "one scenario" in line
    assert not (tmp_path / "x.c").exists()


def test_a_huge_value_in_a_scenario_is_named_in_a_short_line(cli, tmp_path):
    sc = tmp_path / "huge.toml"
    sc.write_text('name = "' + "n" * 100_000 + '"\nsummary = "s"\n[threads]\nmain = ["init", "finalize"]\n')
    line = cli.one_line(cli("check", sc))
    assert "huge.toml:1: name 'nnn" in line and "more]" in line and len(line) < 400


def test_more_store_paths_and_limits_that_cannot_be(cli, tmp_path):
    assert "File name too long" in cli.one_line(cli("runs", "--db", "d/" * 3000 + "x.db"))
    assert "empty" in cli.one_line(cli("stress", "--db", "", "--runs", "1", "--", sys.executable, "-c", "pass"))
    assert "--timeout" in cli.one_line(cli("audit", "--timeout", "-1", "--", sys.executable, "-c", "pass"))
