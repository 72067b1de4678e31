"""``pytest --finirace-runs``: what a rerun that is not clean says, seeds, progress, --pyargs.

Every test runs a real pytest session (pytester, in a subprocess) whose
reruns are real interpreters.
"""

from __future__ import annotations

import re
import sqlite3

pytest_plugins = ["pytester"]

ORDER_DEPENDENT = """
STATE = []
def test_sets():
    STATE.append(1)
def test_needs_the_other():
    assert STATE, "needs test_sets first"
"""


def _section(out: str, name: str) -> str:
    return out[out.index(f"_ {name} _"):]


def test_a_test_that_fails_alone_is_order_dependent_not_clean(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    # makes pytest mark finirace for assertion rewriting in the warm process too, as a
    # non-editable install's entry point does, after the warm process imported it
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p finirace")
    pytester.makepyfile(test_order=ORDER_DEPENDENT)
    result = pytester.runpytest_subprocess("--finirace-runs", "2", "-p", "no:cacheprovider")
    out = result.stdout.str()
    assert "PytestAssertRewriteWarning" not in out  # finirace's own noise in every rerun's output
    # it passed in the session, failed both reruns alone: its own report fails, apart from crashes
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 1
    section = _section(out, "test_needs_the_other")
    assert "2 of 2 reruns of this test failed the ordinary way: order-dependent" in section
    assert "crashed or hung at exit" not in section
    assert "failed exit status 1  (2/2 runs)" in section
    # the rerun's own output, with the assertion, and a command that reruns it from anywhere
    assert "AssertionError: needs test_sets first" in section
    rerun = re.search(r"rerun alone: (.*)", section).group(1)
    assert str(pytester.path / "test_order.py") + "::test_needs_the_other" in rerun and "--rootdir" in rerun
    assert "ORDER-DEPENDENT test_order.py::test_needs_the_other: failed 2 of 2 reruns" in out
    assert "no crash or hang at exit" not in out
    # the store keeps the reruns as failed, not clean
    with sqlite3.connect(tmp_path / "s.db") as db:
        kinds = [k for (k,) in db.execute("SELECT kind FROM runs")]
    assert kinds.count("failed") == 2 and "clean" in kinds


def test_a_test_that_fails_some_reruns_is_flaky(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    counter = tmp_path / "count"
    # fails on its second run of the three (the session's own run is the first); one rerun at a
    # time, since the counter is read and written without a lock
    pytester.makepyfile(test_flaky=f"""
import os
def test_sometimes():
    path = {str(counter)!r}
    n = int(open(path).read()) if os.path.exists(path) else 0
    open(path, "w").write(str(n + 1))
    assert n != 1, "failed on run 2"
""")
    result = pytester.runpytest_subprocess("--finirace-runs", "3", "--finirace-jobs", "1", "-p", "no:cacheprovider")
    out = result.stdout.str()
    result.assert_outcomes(failed=1)
    section = _section(out, "test_sometimes")
    assert "1 of 3 reruns of this test failed the ordinary way: flaky" in section
    assert "output of rerun 1 " in section and "failed on run 2" in section
    assert "FLAKY test_flaky.py::test_sometimes: failed 1 of 3 reruns" in out


def test_each_session_has_a_fresh_printed_seed_and_the_seed_option_replays_it(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    pytester.makepyfile(test_s="def test_ok():\n    pass\n")

    def seeds(*extra: str) -> tuple[str, list[int]]:
        result = pytester.runpytest_subprocess("--finirace-runs", "2", "-p", "no:cacheprovider", *extra)
        result.assert_outcomes(passed=1)
        printed = re.search(r"seed (\d+): --finirace-seed \1 replays these reruns", result.stdout.str()).group(1)
        with sqlite3.connect(tmp_path / "s.db") as db:
            last = db.execute("SELECT max(id) FROM campaigns").fetchone()[0]
            run_seeds = sorted(s for (s,) in db.execute("SELECT seed FROM runs WHERE campaign_id = ?", (last,)))
        return printed, run_seeds

    first, first_runs = seeds()
    second, second_runs = seeds()
    assert first != second and first_runs != second_runs  # a fresh seed each session
    replayed, replayed_runs = seeds("--finirace-seed", first)
    assert replayed == first and replayed_runs == first_runs  # the same perturbation seeds, run for run


def test_negative_seed_is_a_usage_error(pytester):
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("--finirace-runs", "1", "--finirace-seed", "-1")
    assert result.ret == 4
    assert "--finirace-seed must be at least 0, got -1" in result.stderr.str()


def test_progress_marks_each_rerun_quietly_and_names_it_verbosely(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    pytester.makepyfile(test_p="def test_a():\n    pass\ndef test_b():\n    pass\n")
    quiet = pytester.runpytest_subprocess("--finirace-runs", "2", "-p", "no:cacheprovider", "-q")
    # one letter per rerun, before the test's own dot, as pytest marks tests
    quiet.stdout.fnmatch_lines(["rr.rr.*[[]100%[]]"])
    loud = pytester.runpytest_subprocess("--finirace-runs", "2", "-p", "no:cacheprovider", "-v")
    loud.stdout.fnmatch_lines([
        "test_p.py::test_a finirace test 1/2: rerun 1/2 clean rerun 2/2 clean PASSED*",
        "test_p.py::test_b finirace test 2/2: rerun 1/2 clean rerun 2/2 clean PASSED*",
    ])


def test_pyargs_reruns_find_their_test_and_a_rerun_that_runs_no_test_is_an_error(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    # a package installed outside the rootdir, its tests run with --pyargs
    site = tmp_path / "site"
    tests = site / "mypkg" / "tests"
    tests.mkdir(parents=True)
    (site / "mypkg" / "__init__.py").write_text("")
    (tests / "__init__.py").write_text("")
    (tests / "test_objs.py").write_text(
        "import os\n"
        "class TestObjects:\n"
        "    def test_equality(self):\n        assert 1 == 1\n"
        "def test_skipped_alone():\n"
        "    if 'FINIRACE_RUN_TOKEN' in os.environ:\n"
        "        import pytest; pytest.skip('not alone')\n"
    )
    pytester.makeini("[pytest]\n")
    monkeypatch.setenv("PYTHONPATH", f"{site}:{__import__('os').environ.get('PYTHONPATH', '')}")
    result = pytester.runpytest_subprocess("--pyargs", "mypkg.tests", "--finirace-runs", "2", "-p", "no:cacheprovider")
    out = result.stdout.str()
    # the class's test ran in both reruns; the one skipped alone ran nothing: an error, not a pass
    result.assert_outcomes(passed=1, failed=1)
    assert "FAILED *test_equality" not in out and "test_equality -" not in out
    section = _section(out, "test_skipped_alone")
    assert "2 of 2 reruns ran no test (exit status 0): they tested nothing" in section
    assert "1 skipped" in section
    assert re.search(r"NO TEST \S*test_skipped_alone: 2 of 2 reruns ran no test", out)
    with sqlite3.connect(tmp_path / "s.db") as db:
        rows = db.execute("SELECT c.name, r.kind FROM runs r JOIN campaigns c ON c.id = r.campaign_id").fetchall()
    assert sorted(k for n, k in rows if "test_equality" in n) == ["clean", "clean"]
    assert sorted(k for n, k in rows if "test_skipped_alone" in n) == ["failed", "failed"]
