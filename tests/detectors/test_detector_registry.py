"""The detector registry: every entry builds its detector, and the choices offered follow the capabilities."""

from __future__ import annotations

import subprocess
import sys

import pytest

from finirace import detectors
from finirace.commands import lab as lab_command
from finirace.commands import stress as stress_command
from finirace.detectors import registry


@pytest.mark.parametrize("spec", registry.REGISTRY, ids=lambda s: s.name)
def test_every_entry_builds_a_detector_of_its_name(spec):
    det = spec.create()
    assert isinstance(det, detectors.Detector) and det.name == spec.name
    assert spec.lab or spec.stress  # a detector nobody may use is a leftover


def test_the_commands_offer_what_the_registry_allows():
    assert lab_command.DETECTOR_NAMES == registry.names(lab=True)
    assert set(stress_command.DETECTORS) == {s.name for s in registry.REGISTRY if s.stress}
    assert "assert" in lab_command.DETECTOR_NAMES and "assert" not in stress_command.DETECTORS
    assert [s.name for s in registry.REGISTRY if s.debug_build] == ["assert"]


def test_capabilities_match_what_the_detectors_do(tmp_path):
    # a traced detector wraps the command in its tracer: the shim and a gdb attach must stay out
    for spec in registry.REGISTRY:
        prepared = spec.create().prepare(["true"], {"PATH": "/usr/bin:/bin"}, tmp_path)
        assert (prepared.argv[0] != "true") == spec.traced, spec.name
        assert spec.shim == (not spec.traced)
    assert [s.name for s in registry.REGISTRY if s.memory_errors] == ["valgrind"]


def test_an_unknown_name_says_which_are_known():
    with pytest.raises(KeyError, match="known: plain, pymalloc-debug"):
        registry.spec("asan")


def test_reading_the_registry_imports_no_detector():
    code = ("import sys\nfrom finirace.detectors import registry\nregistry.names(lab=True)\n"
            "print(sorted(m for m in sys.modules if m.startswith('finirace.detectors.') or m == 'finirace.proc'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['finirace.detectors.registry']"


def test_lazy_exports_are_what_they_name_whatever_was_imported_first():
    code = ("import finirace.detectors.classify, finirace.detectors.gdb\nfrom finirace import detectors\n"
            "import inspect\nprint(all(not inspect.ismodule(getattr(detectors, n)) for n in detectors.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
