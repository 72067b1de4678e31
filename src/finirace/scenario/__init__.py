"""Scenario files: format, validation and the bundled catalog.  No semantics live here."""

from finirace.scenario.catalog import bundled_paths, load_bundled, resolve
from finirace.scenario.format import MAIN, Scenario, ScenarioError, Step, Thread, check_variants, load, loads
from finirace.scenario.steps import STARTS_PYTHON_THREAD, STEP_KINDS, Arg, StepKind

__all__ = [
    "MAIN", "Scenario", "ScenarioError", "Step", "Thread", "check_variants", "load", "loads",
    "bundled_paths", "load_bundled", "resolve", "STEP_KINDS", "STARTS_PYTHON_THREAD", "Arg", "StepKind",
]
