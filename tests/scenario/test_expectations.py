"""Rewriting ``[expect]`` entries in place: only the entries change, the rest stays byte for byte."""

from __future__ import annotations

import pytest

from finirace.scenario import ScenarioError, loads
from finirace.scenario.expectations import expect_entry, with_expectations

ORDER = ["legacy", "prefix", "exit", "hang"]
HEAD = '''name = "t"  # a comment kept as it is
notes = """
[expect] inside a string is not the table
"""

[threads]
main = ["init", "spawn worker", "finalize"]
worker = ["ensure", "release"]
'''


def test_an_entry_is_one_line_as_the_catalog_writes_it():
    assert expect_entry("exit", ["clean", "clean, worker exited"]) == 'exit = ["clean", "clean, worker exited"]'
    assert expect_entry("odd name", ["clean"]) == '"odd name" = "clean"'


def test_replacing_an_entry_changes_that_line_only():
    text = HEAD + '\n[expect]\nlegacy = "clean"\nexit = "crash"   # old\nhang = "clean"\n'
    got = with_expectations(text, {"exit": ("clean", "clean, worker exited")}, ORDER)
    assert got == text.replace('exit = "crash"   # old', 'exit = ["clean", "clean, worker exited"]')
    assert loads(got).expect["exit"] == ("clean", "clean, worker exited")


def test_a_new_era_goes_after_the_one_before_it():
    text = HEAD + '\n[expect]\nlegacy = "clean"\nhang = "clean"\n\n# trailing comment\n'
    got = with_expectations(text, {"exit": ["crash"], "prefix": ["memory-error"]}, ORDER)
    assert got == HEAD + ('\n[expect]\nlegacy = "clean"\nprefix = "memory-error"\nexit = "crash"\n'
                          'hang = "clean"\n\n# trailing comment\n')


def test_a_first_era_goes_right_under_the_header_and_a_table_after_expect_is_left_alone():
    text = '[expect]\nexit = "clean"\n\n' + HEAD
    got = with_expectations(text, {"legacy": ["clean, worker hung"]}, ORDER)
    assert got == '[expect]\nlegacy = "clean, worker hung"\nexit = "clean"\n\n' + HEAD


def test_a_multi_line_entry_is_replaced_whole():
    text = HEAD + '\n[expect]\nexit = [\n  "clean",  # [bracket] in a comment\n  "crash, worker exited",\n]\nhang = "clean"\n'
    got = with_expectations(text, {"exit": ["clean"]}, ORDER)
    assert got == HEAD + '\n[expect]\nexit = "clean"\nhang = "clean"\n'


def test_a_file_without_expectations_gets_the_table_at_its_end():
    got = with_expectations(HEAD.rstrip("\n"), {"hang": ["clean"], "legacy": ["clean"]}, ORDER)
    assert got == HEAD + '\n[expect]\nlegacy = "clean"\nhang = "clean"\n'


def test_a_layout_it_cannot_edit_is_refused_not_corrupted():
    text = HEAD.replace("[threads]", 'expect = { exit = "clean" }\n\n[threads]')
    with pytest.raises(ScenarioError, match=r"^t.toml: cannot rewrite \[expect\] in place"):
        with_expectations(text, {"hang": ["clean"]}, ORDER, source="t.toml")
