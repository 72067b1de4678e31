"""``pytest --finirace-audit``: the same findings as ``finirace audit``, in pytest's terminal summary.

A real pytest session (pytester, in a subprocess) and the real ``finirace
audit`` command, on the same thread: a daemon thread sleeping in C.
"""

from __future__ import annotations

import sys

pytest_plugins = ["pytester"]

THREAD = """
import threading, time
def start():
    threading.Thread(target=time.sleep, args=(300,), daemon=True, name="lingering").start()
    time.sleep(0.2)  # in its C call, the GIL released
"""


def _block(out: str, name: str) -> list[str]:
    """The lines about thread ``name``: from its heading to the next blank line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name} ("))
    block = []
    for line in lines[start:]:
        if not line.strip():
            break
        block.append(line.rstrip())
    return block


def _findings(block: list[str]) -> list[str]:
    """What is said of the thread apart from its stacks (whose outer frames differ: pytest against a script)."""
    return [line for line in block if not line.lstrip().startswith(("python:", "native:"))]


def test_audit_option_shows_what_finirace_audit_shows(pytester, cli, tmp_path):
    pytester.makepyfile(threads=THREAD, test_lingers="import threads\ndef test_leaves_it():\n    threads.start()\n")
    session = pytester.runpytest_subprocess("--finirace-audit", "-p", "no:cacheprovider")
    session.assert_outcomes(passed=1)
    out = session.stdout.str()
    section = out[out.index("finirace: threads alive at session end"):]
    program = tmp_path / "prog.py"
    program.write_text(THREAD + "start()\n")
    command = cli("audit", "--", sys.executable, str(program), cwd=str(tmp_path))
    block = _block(section, "lingering")
    in_pytest, in_audit = _findings(block), _findings(_block(command.stdout, "lingering"))
    # the same heading (daemon, its state), fates per era, word for word, and every danger the
    # command flags; a held-lock finding depends on the process's own memory (pytest loads more libraries)
    def same(lines):
        return [line for line in lines if "danger: holds " not in line and " fix in " not in line]

    assert same(in_pytest) == same(in_audit)
    # the fix, where the command names the program's first line, is worded for a test session
    assert any("fix in the application: add `import finirace.guard" in line for line in in_audit)
    assert any("fix in the test session:" in line and "--finirace-guard" in line for line in in_pytest)
    assert any("danger: daemon thread blocked in C with the GIL released" in line for line in in_pytest)
    assert any("pthread_exit" in line for line in in_pytest)
    assert any("finirace.guard" in line for line in in_pytest)
    # and its stacks: the Python frame it runs in, its native frames from gdb (the C call it sleeps in)
    assert any(line.startswith("  python: ") for line in block)
    native = next(line for line in block if line.startswith("  native: "))
    assert "sleep" in native


def test_audit_option_says_when_no_thread_is_left(pytester):
    pytester.makepyfile(test_quiet="def test_ok():\n    pass\n")
    session = pytester.runpytest_subprocess("--finirace-audit", "-p", "no:cacheprovider")
    session.assert_outcomes(passed=1)
    assert "no thread besides the main one is alive at session end: finalization meets none" in session.stdout.str()
