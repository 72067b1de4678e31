"""The model's public API: variants, their order, the version map, build_system."""

from __future__ import annotations

import pytest

from finirace.errors import UsageError
from finirace.model import VARIANTS, Variant, build_system, variant_for_version
from finirace.scenario import loads

SMALL = loads('name = "t"\n[threads]\nmain = ["init", "finalize"]\n')


def test_variants_in_era_order():
    assert list(VARIANTS) == ["legacy36", "legacy", "prefix", "wrapper", "exit", "exit311", "exit312", "exit313",
                              "hang", "guards"]
    for name, v in VARIANTS.items():
        assert isinstance(v, Variant) and v.name == name and v.title and v.versions


@pytest.mark.parametrize(("version", "era"), [
    ((3, 6), "legacy36"), ((3, 7), "legacy"), ((3, 8), "legacy"), ((3, 9), "exit"), ((3, 10), "exit"),
    ((3, 11), "exit311"), ((3, 12), "exit312"), ((3, 13), "exit313"), ((3, 14), "hang"), ((3, 15), "guards"), ((2, 7), None), ((3, 5), None), ((3, 16), None),
])
def test_variant_for_version(version, era):
    assert variant_for_version(*version) == era


def test_model_only_variants_map_no_release():
    assert VARIANTS["prefix"].released == () and VARIANTS["wrapper"].released == ()


def test_unknown_variant_is_a_usage_error_listing_the_known():
    with pytest.raises(UsageError) as exc:
        build_system(SMALL, "nope")
    msg = str(exc.value)
    assert "'nope'" in msg and "legacy" in msg and "guards" in msg and "\n" not in msg


def test_build_system_threads_follow_the_scenario():
    sc = loads('name = "t"\n[threads]\nmain = ["init", "spawn b", "spawn a"]\nb = ["block"]\na = ["block"]\n')
    assert build_system(sc, "exit").threads == ("main", "b", "a")
