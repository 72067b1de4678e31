"""The catalog's outcomes stay what the golden files say: a refactoring changes no behaviour.

``check.json`` is compared whole, every run (the model is deterministic).
``lab.json`` is compared with the suite's own catalog sweep (tests/conftest.py),
one test per interpreter of the file; an interpreter this machine lacks is
skipped by name, and one the file lacks is not compared.  A lab cell passes
when its outcome is the one the golden file saw there; for a scenario that
leaves a race free-running, when its era, prediction and grade are ones the
file saw on an interpreter of that era (golden.py says why).

When a difference is intended (a model correction, a new scenario or era), the
failure says so and the files are regenerated, see golden.py::

    PYTHONPATH=src python3 tests/golden/golden.py check
    PYTHONPATH=src python3 tests/golden/golden.py lab
"""

from __future__ import annotations

import json

import pytest

import golden

REGENERATE = "if the change is intended: PYTHONPATH=src python3 tests/golden/golden.py {}"


def differences(got: dict, want: dict) -> list[str]:
    """One entry per cell that differs, naming only the fields that differ."""
    lines = [f"missing: {k}" for k in sorted(want.keys() - got.keys())]
    lines += [f"new: {k}" for k in sorted(got.keys() - want.keys())]
    for k in sorted(got.keys() & want.keys()):
        for field in sorted(got[k].keys() | want[k].keys()):
            g, w = got[k].get(field), want[k].get(field)
            if g != w:
                lines.append(f"{k} {field}:\n  got    {json.dumps(g, sort_keys=True)}\n  golden {json.dumps(w, sort_keys=True)}")
    return lines


def test_check_on_the_catalog_is_the_golden_one(capsys):
    from finirace import cli

    rc = cli.main(["check", "--json"])
    out, err = capsys.readouterr()
    assert rc in (0, 1), err
    got = golden.check_cells(json.loads(out)["results"])
    want = json.loads(golden.CHECK.read_text())
    diff = differences(got, want)
    assert not diff, "\n".join([*diff[:20], REGENERATE.format("check")])


def _golden_lab() -> dict[str, list[dict]]:
    return golden.accepted(json.loads(golden.LAB.read_text()))


def _versions() -> list[str]:
    return sorted({key.split("/")[1] for key in _golden_lab()})


@pytest.mark.parametrize("version", _versions())
def test_lab_on_the_catalog_is_the_golden_one(catalog_sweep, version):
    assert catalog_sweep.returncode in (0, 1), catalog_sweep.stderr
    runs = [run for run in catalog_sweep.data["runs"] if run["version"] == version]
    if not runs:
        pytest.skip(f"no interpreter labelled {version} here (not installed, or it cannot embed)")
    want = {k: v for k, v in _golden_lab().items() if k.split("/")[1] == version}
    from finirace.scenario import load_bundled

    got = golden.lab_cells(runs, {s.name for s in load_bundled()})
    racy = golden.free_running(json.loads(golden.LAB.read_text()))
    diff = [f"missing: {k}" for k in sorted(want.keys() - got.keys())]
    diff += [f"new: {k}" for k in sorted(got.keys() - want.keys())]
    for key in sorted(got.keys() & want.keys()):
        for cell in got[key]:
            if key.split("/")[0] in racy:
                ok = golden.verdict(cell) in want[key]
            elif golden.undefined(cell):
                ok = golden.verdict(cell) in [golden.verdict(c) for c in want[key]]
            else:
                ok = cell in want[key]
            if not ok:
                diff.append(f"{key}:\n  got    {json.dumps(cell, sort_keys=True)}\n  golden "
                            + "\n         ".join(json.dumps(c, sort_keys=True) for c in want[key]))
    assert not diff, "\n".join([*diff[:20], REGENERATE.format("lab")])
