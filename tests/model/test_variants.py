"""The registry of eras: complete, ordered by ``follows``, each variant only what differs."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from finirace.audit import eras
from finirace.model.variant import Fate, Variant, in_era_order
from finirace.model.variants import VARIANTS, released

DOCS = Path(__file__).resolve().parents[2] / "docs" / "model.md"


def _versions_text(released: tuple[tuple[int, int], ...]) -> str:
    first, last = released[0], released[-1]
    return f"{first[0]}.{first[1]}" if first == last else f"{first[0]}.{first[1]}–{last[0]}.{last[1]}"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_says_what_it_is_where_it_comes_from_and_what_a_late_thread_gets(name):
    v = VARIANTS[name]
    assert v.title and v.summary and v.refs and v.source and v.versions
    assert isinstance(v.fate, Fate) and v.fate.daemon
    if v.released:
        assert v.versions == _versions_text(v.released)
        minors = [m for _, m in v.released]
        assert minors == list(range(minors[0], minors[-1] + 1))  # one run of releases


def test_each_variant_follows_the_one_before_it_and_changes_something():
    names = list(VARIANTS)
    assert VARIANTS[names[0]].follows is None
    for before, after in zip(names, names[1:]):
        v = VARIANTS[after]
        assert v.follows == before
        assert v.changes(VARIANTS[before]), f"{after} behaves exactly as {before}"


def test_released_eras_map_each_version_once_in_order():
    seen = [r for v in released() for r in v.released]
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert [v.name for v in eras()] == [v.name for v in released()]
    assert all(not v.released for v in VARIANTS.values() if v not in released())


def test_then_keeps_the_switches_and_takes_a_new_description():
    first = VARIANTS["exit"]
    nxt = first.then(name="next", title="t", versions="9.9", released=((9, 9),), summary="s", refs=("r",),
                     source="src", late_thread="hang")
    assert nxt.follows == "exit" and nxt.fate == first.fate and nxt.late_thread == "hang"
    assert nxt.take_gil_checks_runtime and nxt.changes(first) == {"late_thread": "hang"}
    with pytest.raises(ValueError, match="already does"):
        first.then(name="n", title="t", versions="v", released=(), summary="s", refs=(), source="x", late_thread="exit")
    with pytest.raises(TypeError, match="not a switch"):
        first.then(name="n", title="t", versions="v", released=(), summary="s", refs=(), source="x", summary_typo=1)
    with pytest.raises(TypeError, match="not a switch"):
        first.then(name="n", title="t", versions="v", released=(), summary="s", refs=(), source="x", follows="legacy")


def test_order_comes_from_follows_whatever_order_the_modules_are_found_in():
    shuffled = list(reversed(list(VARIANTS.values())))
    assert list(in_era_order(shuffled)) == list(VARIANTS)


@pytest.mark.parametrize(("change", "message"), [
    (lambda vs: vs + [replace(vs[-1], name="other")], "both follow"),
    (lambda vs: vs + [replace(vs[0], name="root2")], "both come first"),
    (lambda vs: vs + [replace(vs[1], name="lost", follows="nowhere")], "lost"),
    (lambda vs: vs + [vs[2]], "two variants are named"),
])
def test_a_registry_that_is_not_one_line_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        in_era_order(change(list(VARIANTS.values())))


def test_the_docs_table_lists_every_variant_with_its_versions():
    text = DOCS.read_text()
    section = text[text.index("## Variants"):]
    rows = re.findall(r"^\| `([\w-]+)` \| ([^|]+?) \|", section, re.M)
    assert [name for name, _ in rows] == list(VARIANTS)
    for name, versions in rows:
        v = VARIANTS[name]
        assert versions in (v.versions, f"{v.versions} (model only)"), (name, versions)


def test_a_plain_variant_needs_its_description():
    with pytest.raises(TypeError):
        Variant(name="x", title="t", versions="v", released=())  # type: ignore[call-arg]
