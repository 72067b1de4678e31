"""``finirace check`` end to end on the real model: table, JSON, JUnit, replay, exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from finirace import cli


def variants() -> list[str]:
    import finirace.model as m

    return list(m.VARIANTS)


def finirace(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def check_json(capsys, *argv):
    rc, out, err = finirace(capsys, "check", *argv, "--json")
    assert rc in (0, 1), err
    return rc, json.loads(out)["results"]


SCENARIO = """\
name = "late"
summary = "a worker attaches while main finalizes"

[threads]
main = ["init", "save", "spawn worker", "restore", "finalize"]
worker = ["ensure", "release"]
"""


@pytest.fixture
def late(tmp_path):
    p = tmp_path / "late.toml"
    p.write_text(SCENARIO)
    return p


def with_expect(path, table: dict[str, list[str]]):
    lines = [f"{v} = {json.dumps(labels)}" for v, labels in table.items()]
    path.write_text(SCENARIO + "\n[expect]\n" + "\n".join(lines) + "\n")


def test_json_has_every_field_and_counterexamples_replay(capsys, late):
    var = variants()[0]
    rc, results = check_json(capsys, str(late), "--variant", var)
    assert rc == 0  # no expectation: nothing to differ from
    (res,) = results
    for key in ("scenario", "variant", "outcomes", "counterexamples", "states", "seconds", "expected", "match"):
        assert key in res
    assert res["scenario"] == "late" and res["variant"] == var
    assert res["expected"] is None and res["match"] is None
    assert res["states"] > 0 and res["outcomes"]
    assert [c["outcome"] for c in res["counterexamples"]] == [o["label"] for o in res["outcomes"]]
    for cx in res["counterexamples"]:
        assert cx["schedule"].startswith("v1.")
        assert len(cx["trace"]) == cx["steps"]
        assert sum(s["preemption"] for s in cx["trace"]) == cx["preemptions"]
        rc, again = check_json(capsys, str(late), "--variant", var, "--replay", cx["schedule"])
        assert rc == 0
        assert again[0]["outcomes"][0]["label"] == cx["outcome"]
        assert again[0]["counterexamples"][0]["trace"] == cx["trace"]


def test_expectations_written_back_match_and_wrong_ones_fail(capsys, late, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one table, each label on one line of its cell
    _, results = check_json(capsys, str(late))
    reached = {r["variant"]: [o["label"] for o in r["outcomes"]] for r in results}
    with_expect(late, reached)
    rc, out, _ = finirace(capsys, "check", str(late))
    assert rc == 0
    assert "✓" in out and "✗" not in out

    first = variants()[0]
    with_expect(late, {**reached, first: ["abort, worker exited"]})
    rc, out, _ = finirace(capsys, "check", str(late))
    assert rc == 1
    assert "✗ missing: abort, worker exited" in out
    # the mismatch shows its counterexamples: a replay command and the thread columns
    assert f"--variant {first} --replay v1." in out
    assert "main" in out and "worker" in out


def test_verbose_shows_every_counterexample(capsys, late):
    var = variants()[0]
    _, results = check_json(capsys, str(late), "--variant", var)
    rc, out, _ = finirace(capsys, "check", str(late), "--variant", var, "-v")
    assert rc == 0
    for cx in results[0]["counterexamples"]:
        assert cx["schedule"] in out


def test_junit_has_one_case_per_scenario_and_variant(capsys, late, tmp_path):
    first = variants()[0]
    with_expect(late, {first: ["abort, worker exited"]})
    report = tmp_path / "junit.xml"
    rc, _, _ = finirace(capsys, "check", str(late), "--junit", str(report))
    assert rc == 1
    root = ET.parse(report).getroot()
    cases = root.findall("testcase")
    assert [c.get("name") for c in cases] == variants()
    assert {c.get("classname") for c in cases} == {"late"}
    assert cases[0].find("failure") is not None
    assert all(c.find("skipped") is not None for c in cases[1:])  # no expectation for the others


def test_preemption_bound_and_pct_are_reported_as_such(capsys, late):
    var = variants()[0]
    _, (bounded,) = check_json(capsys, str(late), "--variant", var, "--preemptions", "0")
    assert bounded["strategy"] == "preemptions<=0"
    _, (a,) = check_json(capsys, str(late), "--variant", var, "--pct", "--runs", "30", "--seed", "4")
    _, (b,) = check_json(capsys, str(late), "--variant", var, "--pct", "--runs", "30", "--seed", "4")
    assert a["strategy"].startswith("pct") and a["complete"] is False
    assert [c["schedule"] for c in a["counterexamples"]] == [c["schedule"] for c in b["counterexamples"]]
    _, (full,) = check_json(capsys, str(late), "--variant", var)
    # a bounded search reaches a subset of what the full one reaches
    assert {o["label"] for o in bounded["outcomes"]} <= {o["label"] for o in full["outcomes"]}
    assert {o["label"] for o in a["outcomes"]} <= {o["label"] for o in full["outcomes"]}


def test_whole_catalog_by_default(capsys):
    from finirace.scenario import load_bundled

    rc, results = check_json(capsys)
    assert len(results) == len(load_bundled()) * len(variants())
    assert rc == (1 if any(r["match"] is False for r in results) else 0)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["check", "{late}", "--variant", "nosuch"], "unknown variant 'nosuch'"),
        (["check", "nosuch-scenario"], "no bundled scenario of that name"),
        (["check", "{late}", "--replay", "v1.zz"], "exactly one SCENARIO and one --variant"),
        (["check", "{late}", "--variant", "{var}", "--replay", "garbage"], "not a finirace schedule"),
        (["check", "{late}", "--variant", "{var}", "--replay", "v1.z"], "does not fit"),
        (["check", "{late}", "--variant", "{var}", "--replay", "v1.a999"], "does not fit"),
        (["check", "{late}", "--pct", "--preemptions", "1"], "give one"),
        (["check", "{bad}"], "bad.toml:4: thread 'worker', step 2: unknown step 'relase'"),
        (["check", "{typo}"], "names unknown variant"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, late, tmp_path, argv, words):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[threads]\nmain = ["init", "spawn worker"]\nworker = ["ensure", "relase"]\n')
    typo = tmp_path / "typo.toml"
    typo.write_text(SCENARIO + '[expect]\nlegacyy = "clean"\n')
    subst = {"{late}": str(late), "{bad}": str(bad), "{typo}": str(typo), "{var}": variants()[0]}
    rc, out, err = finirace(capsys, *[subst.get(a, a) for a in argv])
    assert rc == 2
    assert words in err
    assert err.count("\n") == 1 and out == ""


@pytest.mark.parametrize("opt", [["--preemptions", "-1"], ["--runs", "0", "--pct"], ["--preemptions", "x"]])
def test_bad_numbers_are_usage_errors(capsys, late, opt):
    with pytest.raises(SystemExit) as exc:
        cli.main(["check", str(late), *opt])
    assert exc.value.code == 2


def test_end_to_end_in_a_child_process(late, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "finirace", "check", "seed", "--json"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode in (0, 1), proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert {r["variant"] for r in results} == set(variants())
    assert proc.returncode == (1 if any(r["match"] is False for r in results) else 0)


def test_memory_error_stacks_name_each_frame_once(cli):
    p = cli("check", "seed", "--variant", "prefix", "-v")
    assert p.returncode == 0, p.stderr
    assert "\n1 verdict, 0 differ from expectations; " in p.stdout
    lines = [ln.removeprefix("==finirace==").strip() for ln in p.stdout.splitlines() if ln.startswith("==finirace==")]
    assert any(ln.startswith("at PyEval_RestoreThread") for ln in lines)
    for above, below in zip(lines, lines[1:]):
        if above.startswith(("at ", "by ")) and below.startswith("by "):
            assert below[3:].split()[0] != above[3:].split()[0], (above, below)


def test_junit_skip_messages_keep_labels_that_hold_commas_apart(cli, tmp_path):
    from finirace.outcome import parse_label

    sc = tmp_path / "noexpect.toml"
    sc.write_text('name = "noexpect"\nsummary = "s"\n[threads]\n'
                  'main = ["init", "spawn worker", "finalize"]\nworker = ["ensure", "release"]\n')
    junit = tmp_path / "j.xml"
    p = cli("check", sc, "--variant", "exit", "--variant", "hang", "--junit", junit)
    assert p.returncode == 0, p.stderr
    skips = [s.get("message") for s in ET.parse(junit).iter("skipped")]
    assert len(skips) == 2
    for message in skips:
        labels = message.split("; reached ", 1)[1].split("; ")
        assert any("," in label for label in labels) or len(labels) > 1, message
        for label in labels:
            parse_label(label)  # each piece is one whole label


def test_malformed_python_in_a_step_is_one_line_and_exit_2(tmp_path):
    import os
    from pathlib import Path

    p = tmp_path / "bad.toml"
    p.write_text('name = "bad"\n[threads]\nmain = ["init", "python \\"x = 1", "finalize"]\n')
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    r = subprocess.run([sys.executable, "-m", "finirace", "check", str(p)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"{p}:3: thread 'main', step 2 'python \"x = 1': unterminated quote" in r.stderr


def test_an_expected_outcome_a_bounded_search_misses_is_a_warning_and_strict_fails(cli, tmp_path):
    p = cli("check", "seed", "--variant", "exit", "--preemptions", "0")
    assert p.returncode == 0, p.stdout[-2000:]
    said = " ".join(p.stdout.split())  # the lines below the table are wrapped to the width
    assert "warning: seed under exit: expected 'clean, worker exited', never reached by this search" in said
    assert "1 with expected outcomes this search did not reach (warnings)" in said
    # the table says so too: not reached (a warning), not missing (a failure)
    assert "? not reached: clean," in p.stdout and "✗ missing" not in p.stdout
    strict = cli("check", "seed", "--variant", "exit", "--preemptions", "0", "--strict")
    assert strict.returncode == 1
    assert "warning:" not in strict.stdout
    assert "expected 'clean, worker exited', never reached" in " ".join(strict.stdout.split())
    assert "✗ missing: clean," in strict.stdout and "? not reached" not in strict.stdout
    # JSON and JUnit say what the exit status says
    (data,) = json.loads(cli("check", "seed", "--variant", "exit", "--preemptions", "0", "--json").stdout)["results"]
    assert data["match"] is False and data["fails"] is False and data["not_reached"] == ["memory-error", "clean, worker exited"]
    (strict_data,) = json.loads(cli("check", "seed", "--variant", "exit", "--preemptions", "0", "--json",
                                    "--strict").stdout)["results"]
    assert strict_data["fails"] is True
    for extra, failures in (((), "0"), (("--strict",), "1")):
        xml = tmp_path / f"j{failures}.xml"
        cli("check", "seed", "--variant", "exit", "--preemptions", "0", "--junit", str(xml), *extra)
        assert ET.parse(xml).getroot().get("failures") == failures
    assert "warning: never reached by this search" in (tmp_path / "j0.xml").read_text()
    full = cli("check", "seed", "--variant", "exit")  # the exhaustive search reaches it
    assert full.returncode == 0 and "warning:" not in full.stdout


def test_an_unexpected_outcome_a_bounded_search_reaches_still_fails(cli, tmp_path):
    sc = tmp_path / "late.toml"
    sc.write_text(SCENARIO + '[expect]\nexit = ["clean"]\n')
    full = cli("check", sc, "--variant", "exit")
    bounded = cli("check", sc, "--variant", "exit", "--preemptions", "1")
    assert full.returncode == 1  # the model reaches more than "clean"
    assert bounded.returncode == 1, bounded.stdout[-2000:]


def test_pct_runs_have_a_bound_and_a_time_limit(cli, late):
    over = cli.one_line(cli("check", late, "--pct", "--runs", "1000001"))
    assert "at most 1,000,000 PCT runs" in over
    assert "goes with --pct" in cli.one_line(cli("check", late, "--time", "5"))
    p = cli("check", late, "--variant", "exit", "--pct", "--runs", "1000000", "--time", "0.5", "--json")
    assert p.returncode in (0, 1), p.stderr
    (res,) = json.loads(p.stdout)["results"]
    assert "time limit 0.5 s" in res["strategy"] and res["complete"] is False
    runs = int(res["strategy"].split("runs=")[1].split()[0])
    assert 1 <= runs < 1_000_000


@pytest.mark.parametrize("jobs, limit", [
    ("1", "time limit 0.2 s: 0.6 s shared by 3 searches"),
    ("2", "time limit 0.4 s: 0.6 s shared by 3 searches, 2 at once"),  # side by side: two shares each
    ("3", "time limit 0.6 s, 3 searches at once"),
])
def test_pct_time_limit_bounds_the_whole_check_and_each_search_gets_a_share(cli, late, jobs, limit):
    p = cli("check", late, "--variant", "exit", "--variant", "legacy", "--variant", "hang", "--pct", "--runs",
            "1000000", "--time", "0.6", "--json", "-j", jobs)
    assert p.returncode in (0, 1), p.stderr
    results = json.loads(p.stdout)["results"]
    assert len(results) == 3
    for res in results:
        assert limit in res["strategy"], res["strategy"]
        assert 1 <= int(res["strategy"].split("runs=")[1].split()[0]) < 1_000_000


def test_more_threads_than_a_schedule_token_names_is_one_line_and_exit_2(cli, tmp_path):
    names = [f"t{i}" for i in range(1, 27)]  # with main: 27 threads, the letters a-z name 26
    sc = tmp_path / "many.toml"
    sc.write_text('name = "many"\n[threads]\nmain = ["init", ' + ", ".join(f'"spawn {n}"' for n in names)
                  + ', "finalize"]\n' + "".join(f'{n} = ["ensure", "release"]\n' for n in names))
    line = cli.one_line(cli("check", sc, "--variant", "exit"))
    assert "many: 27 threads, more than a schedule token can name (26, a to z)" in line


@pytest.mark.parametrize("main, step, words", [
    ('"init", "end_interp", "finalize"', 2, "no sub-interpreter to end"),
    ('"init", "new_interp", "end_interp", "end_interp", "finalize"', 4, "no sub-interpreter to end"),
    ('"init", "new_interp", "new_interp", "end_interp", "end_interp", "finalize"', 3, "still alive: one at a time"),
])
def test_unpaired_sub_interpreter_steps_are_one_line_and_exit_2(cli, tmp_path, main, step, words):
    # the model would give such a scenario a verdict ("crash") for a program outside it
    p = tmp_path / "interp.toml"
    p.write_text(f'name = "interp"\n[threads]\nmain = [{main}]\n')
    r = cli("check", p)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"interp.toml:3: thread 'main', step {step} " in r.stderr and words in r.stderr


def test_a_long_search_shows_which_verdict_it_is_on_and_how_far(tmp_path):
    """On a terminal, stderr carries a progress line naming the scenario, the era and its place
    among the verdicts (three workers: some 25 000 states, long enough to report)."""
    import os
    import pty
    import threading

    workers = ", ".join(f'"spawn w{i}"' for i in (1, 2, 3)) + ", " + ", ".join(f'"wait b{i}"' for i in (1, 2, 3))
    text = f'name = "three"\n[threads]\nmain = ["init", "save", {workers}, "restore", "finalize"]\n'
    for i in (1, 2, 3):
        text += f'w{i} = ["ensure", "save", "signal b{i}", "block", "restore", "release"]\n'
    path = tmp_path / "three.toml"
    path.write_text(text)
    main, child = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:  # read as it comes: a full pty would block the child
        while True:
            try:
                got = os.read(main, 65536)
            except OSError:  # the other end is closed and drained
                return
            if not got:
                return
            chunks.append(got)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        p = subprocess.run([sys.executable, "-m", "finirace", "check", str(path), "--variant", "exit"],
                           stdout=subprocess.PIPE, stderr=child, timeout=300)
    finally:
        os.close(child)
        reader.join(30)
        os.close(main)
    err = b"".join(chunks)
    assert p.returncode == 0, p.stdout[-2000:]
    shown = err.decode().replace("\r", "\n")
    assert "exploring three under exit (1/1): " in shown and " states, " in shown, shown[-500:]
    assert shown.rstrip().endswith("\x1b[K")  # the line is wiped before the table


def test_searches_side_by_side_give_the_verdicts_of_one_after_the_other(cli):
    """--jobs 2 runs each scenario × variant in a forked process of its own: the same verdicts, in
    the same order, as in this process; the summary says the time is the searches' own."""
    argv = ("check", "seed", "hang-at-exit", "--variant", "exit", "--variant", "legacy", "--json")
    one, two = cli(*argv, "-j", "1"), cli(*argv, "-j", "2")
    assert one.returncode == two.returncode == 0, (one.stderr, two.stderr)

    def verdicts(p):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads(p.stdout)["results"]]

    assert verdicts(one) == verdicts(two) and len(verdicts(one)) == 4
    table = cli("check", "seed", "--variant", "exit", "--variant", "legacy", "-j", "2")
    last = table.stdout.split("\n\n")[-1]  # the summary, wrapped to the width
    assert table.returncode == 0 and "s of search, 2 at once" in " ".join(last.split())


def test_a_variant_files_error_in_a_search_side_by_side_is_one_line_and_exit_2(cli, tmp_path):
    f = tmp_path / "boom.py"
    f.write_text("from finirace.model.api import instr, variant\n"
                 "def _boom(c):\n    raise ValueError('my bug')\n"
                 "def restore(v, steps):\n    return (instr('boom', _boom, 'PyEval_RestoreThread'),) + tuple(steps)\n"
                 "VARIANT = variant(base='exit', name='boom', summary='raises', "
                 "patches={'PyEval_RestoreThread': restore})\n")
    line = cli.one_line(cli("check", "seed", "hang-at-exit", "--variant-file", f, "-j", "2"))
    assert "variant 'boom' failed while exploring" in line and "ValueError: my bug" in line
