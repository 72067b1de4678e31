"""``finirace check --print-expect`` / ``--write-expect``: expectations computed by exploration."""

from __future__ import annotations

import pytest

from finirace import cli
from finirace.model import VARIANTS
from finirace.scenario import catalog, load


def run(capsys, *argv):
    rc = cli.main(["check", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_write_expect_gives_a_new_era_its_entry_and_fixes_a_wrong_one(capsys, tmp_path):
    seed = next(p for p in catalog.bundled_paths() if p.stem == "seed")
    original = seed.read_text()
    lines = original.splitlines(keepends=True)
    last = list(VARIANTS)[-1]
    # as if the last era were new (no entry yet), and another entry had gone stale
    edited = "".join(ln for ln in lines if not ln.startswith(f"{last} = "))
    edited = edited.replace('legacy = ["clean", "clean, worker hung"]', 'legacy = ["crash"]')
    assert edited != original
    target = tmp_path / "seed.toml"
    target.write_text(edited)
    rc, out, err = run(capsys, str(target), "--write-expect")
    assert rc == 0, err
    assert target.read_text() == original
    assert f"{target}: legacy = " in out and f"{target}: {last} = " in out and "2 [expect] entries written" in out
    rc, out, _ = run(capsys, str(target), "--write-expect")
    assert rc == 0 and "0 [expect] entries written" in out and target.read_text() == original
    assert set(load(target).expect) == set(VARIANTS)


def test_print_expect_prints_the_entries_and_writes_nothing(capsys, tmp_path):
    target = tmp_path / "t.toml"
    text = 'name = "t"\n[threads]\nmain = ["init", "spawn worker", "finalize"]\nworker = ["ensure", "release"]\n'
    target.write_text(text)
    rc, out, _ = run(capsys, str(target), "--variant", "legacy", "--variant", "exit", "--print-expect")
    assert rc == 0 and target.read_text() == text
    title, header, legacy, exit_ = out.splitlines()[:4]
    assert title == f"# t ({target})" and header == "[expect]"
    assert legacy.startswith("legacy = [") and exit_.startswith("exit = [")


@pytest.mark.parametrize("extra", [["--pct"], ["--preemptions", "1"], ["--json"]])
def test_expectations_need_an_exhaustive_search_and_no_other_output(capsys, extra):
    rc, out, err = run(capsys, "seed", "--print-expect", *extra)
    assert rc == 2 and out == "" and "need every run explored" in err and err.count("\n") == 1
