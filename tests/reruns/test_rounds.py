"""A round's reruns side by side (``--finirace-jobs``): each stored once, shown in order, really concurrent.

A real pytest session (pytester, in a subprocess) whose reruns are forked
from a real warm interpreter, two at a time.
"""

from __future__ import annotations

import sqlite3

pytest_plugins = ["pytester"]


def test_concurrent_reruns_store_every_run_once_and_show_progress_in_order(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    log = tmp_path / "log"
    marks = tmp_path / "marks"
    marks.mkdir()
    # each rerun logs when it ran; the first rerun of each test to start waits until a second one has
    # started beside it (so two overlap for sure) and then ends last: a later rerun ends before it
    pytester.makepyfile(test_pair=f"""
import os, time
def _rerun(name):
    token = os.environ.get("FINIRACE_RUN_TOKEN")
    if token is None:
        return
    start = time.monotonic()
    first = False
    try:
        os.close(os.open(os.path.join({str(marks)!r}, name), os.O_CREAT | os.O_EXCL))
        first = True
    except FileExistsError:
        pass
    open(os.path.join({str(marks)!r}, name + "." + token), "w").close()
    if first:
        deadline = time.monotonic() + 30
        while len([m for m in os.listdir({str(marks)!r}) if m.startswith(name + ".")]) < 2:
            assert time.monotonic() < deadline, "no second rerun started beside the first"
            time.sleep(0.01)
        time.sleep(0.3)
    with open({str(log)!r}, "a") as f:
        f.write(f"{{name}} {{token}} {{os.getpid()}} {{start}} {{time.monotonic()}}\\n")
def test_one():
    _rerun("one")
def test_two():
    _rerun("two")
""")
    result = pytester.runpytest_subprocess("--finirace-runs", "4", "--finirace-jobs", "2", "-p", "no:cacheprovider",
                                           "-v")
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "reruns: 8 forked from a warm process, 0 in a fresh interpreter" in out
    # progress follows run order although the first rerun of each test ended after the second
    result.stdout.fnmatch_lines([
        "test_pair.py::test_one finirace test 1/2: rerun 1/4 clean rerun 2/4 clean rerun 3/4 clean rerun 4/4 clean "
        "PASSED*",
        "test_pair.py::test_two finirace test 2/2: rerun 1/4 clean rerun 2/4 clean rerun 3/4 clean rerun 4/4 clean "
        "PASSED*",
    ])
    runs = [line.split() for line in log.read_text().splitlines()]
    for name in ("one", "two"):
        mine = [(float(start), float(end)) for n, _, _, start, end in runs if n == name]
        assert len(mine) == 4 and len({token for n, token, *_ in runs if n == name}) == 4
        # two reruns of the test overlapped in time: they ran side by side
        assert any(a != b and a[0] < b[1] and b[0] < a[1] for a in mine for b in mine)
    assert len({pid for _, _, pid, _, _ in runs}) == 8  # each in its own process
    with sqlite3.connect(tmp_path / "s.db") as db:
        rows = db.execute("SELECT c.name, r.idx, r.seed, r.kind FROM runs r "
                          "JOIN campaigns c ON c.id = r.campaign_id").fetchall()
    for name in ("test_one", "test_two"):
        mine = [row for row in rows if row[0].startswith(f"pytest:test_pair.py::{name}@")]
        # every run stored once: each index 0..3 exactly once, each with its own seed, all clean
        assert sorted(idx for _, idx, _, _ in mine) == [0, 1, 2, 3]
        seeds = sorted(seed for _, _, seed, _ in mine)
        assert seeds == list(range(seeds[0], seeds[0] + 4))
        assert {kind for *_, kind in mine} == {"clean"}


def test_jobs_below_one_is_a_usage_error(pytester):
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("--finirace-runs", "1", "--finirace-jobs", "0")
    assert result.ret == 4
    assert "--finirace-jobs must be at least 1, got 0" in result.stderr.str()


def test_a_rerun_that_fails_only_beside_another_is_judged_alone(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    lock = tmp_path / "held"
    log = tmp_path / "log"
    # holds a machine-wide resource (a fixed path) for a while: two reruns at once collide, one alone never
    pytester.makepyfile(test_fixed=f"""
import os, time
def test_holds_a_fixed_path():
    try:
        fd = os.open({str(lock)!r}, os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        with open({str(log)!r}, "a") as f:
            f.write("collided\\n")
        raise AssertionError("the fixed path is taken")
    try:
        time.sleep(1.0)
    finally:
        os.close(fd)
        os.unlink({str(lock)!r})
""")
    result = pytester.runpytest_subprocess("--finirace-runs", "2", "--finirace-jobs", "2", "-p", "no:cacheprovider")
    out = result.stdout.str()
    assert log.read_text().count("collided") >= 1  # the two reruns did meet
    result.assert_outcomes(passed=1)
    assert "every rerun ran its test and exited 0" in out and "FLAKY" not in out
    with sqlite3.connect(tmp_path / "s.db") as db:
        rows = db.execute("SELECT r.idx, r.kind FROM runs r JOIN campaigns c ON c.id = r.campaign_id "
                          "WHERE c.name LIKE 'pytest:%'").fetchall()
    assert sorted(rows) == [(0, "clean"), (1, "clean")]  # the alone run is the one stored, once
