"""``finirace check --variant-file``: a variant written outside the package, end to end.

Every bad file is run through the real command in a subprocess: exit status 2,
one line on stderr naming the file and the problem, no traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")

GOOD = '''
from finirace.model.api import instr, must_exit, give_up, variant

def _ask(c):
    if must_exit(c):
        give_up(c)

def restore(v, steps):
    return (instr("PyEval_RestoreThread.ask", _ask, "PyEval_RestoreThread"),) + \\
        tuple(s for s in steps if s.label != "PyEval_RestoreThread.tstate")

VARIANT = variant(base="prefix", name="mine", summary="asks the runtime first",
                  patches={"PyEval_RestoreThread": restore})
'''


def run_check(*argv: str, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.run([sys.executable, "-m", "finirace", "check", *argv], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def write(tmp_path, text: str, name: str = "patch.py") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_a_patched_restore_changes_the_verdict_and_its_counterexample_replays(tmp_path):
    f = write(tmp_path, GOOD)
    r = run_check("seed", "--variant", "prefix", "--variant", "mine", "--variant-file", f, "--json")
    assert r.returncode == 0, r.stderr
    by = {res["variant"]: {o["label"] for o in res["outcomes"]} for res in json.loads(r.stdout)["results"]}
    assert "memory-error" in by["prefix"]
    assert "memory-error" not in by["mine"]
    assert "clean, worker exited" in by["mine"]  # the new step gives up, the base era never does
    res = [x for x in json.loads(r.stdout)["results"] if x["variant"] == "mine"][0]
    token = [cx for cx in res["counterexamples"] if cx["outcome"] == "clean, worker exited"][0]["schedule"]
    replay = run_check("seed", "--variant", "mine", "--variant-file", f, "--replay", token)
    assert replay.returncode == 0, replay.stderr
    assert "PyEval_RestoreThread" in replay.stdout and "exit" in replay.stdout
    assert f"--variant-file {f}" in replay.stdout  # the replay line names the file it needs


def test_without_variant_it_runs_beside_every_built_in_era(tmp_path):
    f = write(tmp_path, GOOD)
    r = run_check("seed", "--variant-file", f, "--json")
    assert r.returncode == 0, r.stderr
    import finirace.model as m

    assert [x["variant"] for x in json.loads(r.stdout)["results"]] == [*m.VARIANTS, "mine"]


BAD = {
    "syntax": ("VARIANT = (\n", r"patch.py:1: syntax error"),
    "raises": ("import nothing_called_this\n", "ModuleNotFoundError while importing it"),
    "exits": ("raise SystemExit(3)\n", "SystemExit while importing it"),
    "none": ("x = 1\n", "defines no VARIANT"),
    "type": ("VARIANT = 'exit'\n", "VARIANT is a str, not a Variant"),
    "base": ("from finirace.model.api import variant\nVARIANT = variant(base='nope', name='m', summary='s')\n",
             "patch.py:2: unknown base era 'nope'"),
    "clash": ("from finirace.model.api import variant\n"
              "VARIANT = variant(base='exit', name='hang', summary='s', take_gil_checks_runtime=False)\n",
              "variant name 'hang' is already taken by a built-in era"),
    "switch": ("from finirace.model.api import variant\nVARIANT = variant(base='exit', name='m', summary='s', fast=1)\n",
               "'fast' is not a switch of Variant"),
    "function": ("from finirace.model.api import variant\n"
                 "VARIANT = variant(base='exit', name='m', summary='s', patches={'take_gill': lambda v, s: s})\n",
                 "patches 'take_gill', which no operation of 'exit' calls; did you mean 'take_gil'?"),
    "function-far": ("from finirace.model.api import variant\n"
                     "VARIANT = variant(base='exit', name='m', summary='s', patches={'zzz': lambda v, s: s})\n",
                     "patches 'zzz', which no operation of 'exit' calls; known: "),
    "patch-fails": ("from finirace.model.api import variant\n"
                    "VARIANT = variant(base='exit', name='m', summary='s', patches={'take_gil': lambda v, s: 1 / 0})\n",
                    "a patch of variant 'm' failed on"),
    "patch-empty": ("from finirace.model.api import variant\n"
                    "VARIANT = variant(base='exit', name='m', summary='s', patches={'take_gil': lambda v, s: ()})\n",
                    "must return atomic steps"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_variant_file_is_one_line_and_exit_2(tmp_path, case):
    text, words = BAD[case]
    f = write(tmp_path, text)
    r = run_check("seed", "--variant-file", f)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert words in lines[0] and f.split("/")[-1] in lines[0]


def test_a_file_variant_named_without_its_file_says_so(tmp_path):
    r = run_check("seed", "--variant", "mine")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "unknown variant 'mine'; a variant file's variant needs its --variant-file FILE too" in r.stderr


def test_a_missing_file_and_two_files_with_one_name(tmp_path):
    r = run_check("seed", "--variant-file", str(tmp_path / "absent.py"))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "absent.py: no such file" in r.stderr
    r = run_check("seed", "--variant-file", str(tmp_path))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert f"{tmp_path}: a directory, not a Python file" in r.stderr
    a = write(tmp_path, GOOD, "a.py")
    b = write(tmp_path, GOOD, "b.py")
    r = run_check("seed", "--variant-file", a, "--variant-file", b)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "b.py: variant name 'mine' is already taken by another variant file" in r.stderr


EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "variants" / "runtime_first.py")


def test_the_shipped_example_fixes_the_seed_crash_but_not_a_restarted_runtime():
    """docs/variant-files.md's worked example: what its verdicts there say."""
    r = run_check("seed", "restore-after", "reinit-wake", "--variant", "prefix", "--variant", "runtime-first",
                  "--variant-file", EXAMPLE, "--json")
    assert r.returncode == 0, r.stderr
    got = {(x["scenario"], x["variant"]): {o["label"] for o in x["outcomes"]} for x in json.loads(r.stdout)["results"]}
    assert "memory-error" in got[("seed", "prefix")]
    assert got[("seed", "runtime-first")] == {"clean", "clean, worker exited", "clean, worker hung"}
    assert got[("restore-after", "prefix")] == {"memory-error"}
    assert got[("restore-after", "runtime-first")] == {"clean, worker exited"}
    assert got[("reinit-wake", "runtime-first")] == {"memory-error"}  # the counterexample the page shows


def test_a_step_of_the_file_that_raises_during_the_search_is_its_files_error(tmp_path):
    f = write(tmp_path, '''
from finirace.model.api import instr, variant

def _boom(c):
    if c.rt.finalizing is not None:
        raise KeyError("no such field")

def take_gil(v, steps):
    return (instr("take_gil.boom", _boom, "take_gil"),) + steps

VARIANT = variant(base="exit", name="boom", summary="raises once finalizing", patches={"take_gil": take_gil})
''')
    r = run_check("seed", "--variant", "boom", "--variant-file", f)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line == f"finirace check: {f}: variant 'boom' failed while exploring seed: KeyError: 'no such field'"
