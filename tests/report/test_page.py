"""Every HTML report escapes what came from targets and files: ``<script>``, quotes, non-UTF-8 bytes.

Each page is made by the real command from hostile input: a scenario file
whose name, summary and Python step hold markup, quotes and a byte that is
not UTF-8; a stress target, campaign and output that do the same; a program
whose thread is named with markup, audited from a path holding such a byte.
The page must stay inert (no script element, no handler attribute), show the
text as text, and be valid UTF-8.
"""

from __future__ import annotations

import os
import re
import sys

import pytest

from finirace.report.page import esc

MARK = "<script>alert(1)</script>"
BYTE = b"\xff"


def _read(path) -> str:
    return path.read_bytes().decode("utf-8")  # valid UTF-8, or this raises


def _hostile_dir(tmp_path, byte: bool = True):
    """A directory whose name holds markup, quotes and (``byte``) a byte that is not UTF-8 (no slash in it)."""
    d = os.path.join(os.fsencode(tmp_path), b'd<script>alert(1)"\'' + (BYTE if byte else b""))
    os.mkdir(d)
    return d


def _scenario(tmp_path, byte: bool = True) -> str:
    d = _hostile_dir(tmp_path, byte)
    path = os.path.join(d, b"evil<b>.toml")
    with open(path, "wb") as f:
        f.write(b'name = "evil"\n'
                b'summary = "<script>alert(1)</script> \\"double\\" \'single\'"\n'
                b"[threads]\n"
                b'main = ["init", "save", "spawn worker", "signal go", "wait done", "restore", "finalize", "join worker"]\n'
                b'worker = ["wait go", "ensure", "python \\"s = \'<script>alert(2)</script>\'\\"", "release",'
                b' "signal done"]\n')
    return os.fsdecode(path)


def test_esc_turns_markup_quotes_and_bad_bytes_into_text():
    hostile = MARK + "\"'" + BYTE.decode("utf-8", "surrogateescape") + "\ud800"
    out = esc(hostile)
    assert "<" not in out and '"' not in out and "'" not in out
    out.encode("utf-8")  # no lone surrogate survives
    assert "&lt;script&gt;" in out and "\ufffd" in out


def test_check_page_escapes_the_scenario(cli, tmp_path, elements):
    sc = _scenario(tmp_path)
    out = tmp_path / "check.html"
    p = cli("check", sc, "--variant", "exit", "-v", "--html", out)
    assert p.returncode == 0, p.stderr
    page = elements(_read(out))
    page.assert_inert()
    text = "".join(page.text)
    assert "alert(2)" in text and "<script>alert(2)</script>" in text  # shown, as text
    assert 'd<script>alert(1)"\'\ufffd' in text  # the path in the replay command


def test_stress_report_page_escapes_the_target(cli, tmp_path, elements):
    target = tmp_path / "t.py"
    target.write_text("import os, sys, threading\n"
                      f"sys.stderr.buffer.write(b'{MARK} \"q\" \\'s\\' \\xff\\n'); sys.stderr.flush()\n"
                      "os.abort()\n")
    name = MARK.replace("/", "") + "\"'"
    p = cli("stress", "--runs", "2", "-j", "1", "--campaign", name, "--", sys.executable, target, MARK)
    assert p.returncode == 1, p.stderr
    out = tmp_path / "stress.html"
    p = cli("report", name, "--html", out)
    assert p.returncode == 1, p.stderr  # the campaign has a failure bucket
    page = elements(_read(out))
    page.assert_inert()
    text = "".join(page.text)
    assert name in text and f'{MARK} "q" \'s\' \ufffd' in text
    assert page.with_class("spark") or "svg" in {t for t, _ in page.tags}
    # both runs aborted: which runs, said so that "0…1" is not read as a count
    assert re.search(r"reproduced 2/2 times, first in run \d+, last in run \d+", text), text
    # a reproduction command wraps between its words, not inside them, where it can
    assert "overflow-wrap: anywhere" in _read(out) and "break-all" not in _read(out)


def test_lab_report_page_escapes_the_scenario(cli, tmp_path, elements):
    sc = _scenario(tmp_path, byte=False)
    p = cli("lab", sc, "--campaign", "lab-evil", "--timeout", "20")
    assert p.returncode in (0, 1), p.stderr
    out = tmp_path / "lab.html"
    p = cli("report", "lab-evil", "--html", out)
    assert p.returncode == 0, p.stderr
    page = elements(_read(out))
    page.assert_inert()
    text = "".join(page.text)
    assert "python \"s = '<script>alert(2)</script>'\"" in text  # the step, drawn in its lane
    (row_link,) = [a for t, a in page.tags if t == "a" and a.get("href", "").startswith("#run-")]
    assert row_link["href"][1:] in page.ids


def test_a_lab_run_from_a_path_that_is_not_utf8_is_stored_and_reported(cli, tmp_path, elements):
    sc = _scenario(tmp_path)
    p = cli("lab", sc, "--campaign", "lab-bytes", "--timeout", "20")
    assert p.returncode in (0, 1) and "Traceback" not in p.stderr, p.stderr
    out = tmp_path / "lab-bytes.html"
    assert cli("report", "lab-bytes", "--html", out).returncode == 0
    page = elements(_read(out))
    page.assert_inert()
    assert "evil" in "".join(page.text)


def test_lab_timeline_escapes_the_scenario(cli, tmp_path, elements):
    sc = _scenario(tmp_path)
    out = tmp_path / "timeline.html"
    p = cli("lab", sc, "--no-store", "--html", out, "--timeout", "20")
    assert p.returncode in (0, 1), p.stderr
    page = elements(_read(out))
    page.assert_inert()
    assert "<script>alert(2)</script>" in "".join(page.text)


def test_audit_page_escapes_thread_names_and_paths(cli, tmp_path, elements):
    d = _hostile_dir(tmp_path)
    prog = os.path.join(d, b"prog.py")
    with open(prog, "w") as f:
        f.write("import threading, time\n"
                f"threading.Thread(target=time.sleep, args=(30,), daemon=True, name={MARK + chr(34) + chr(39)!r})"
                ".start()\ntime.sleep(0.2)\n")
    out = tmp_path / "audit.html"
    p = cli("audit", "--no-gdb", "--html", out, "--", sys.executable, os.fsdecode(prog))
    assert p.returncode in (0, 1), p.stderr
    page = elements(_read(out))
    page.assert_inert()
    text = "".join(page.text)
    assert MARK + "\"'" in text
    assert "\ufffd" in text  # the byte in the program's path, replaced


@pytest.mark.parametrize("command", [("check", "seed"), ("audit", "--", sys.executable, "-c", "pass")])
def test_an_unwritable_html_file_is_one_line(cli, tmp_path, command):
    name, *rest = command
    line = cli.one_line(cli(name, "--html", tmp_path / "no" / "such" / "dir.html", *rest))
    assert "--html" in line and "cannot write" in line


def test_the_fix_on_the_audit_page_sets_the_line_to_type_as_code(cli, tmp_path, elements):
    prog = tmp_path / "prog.py"
    prog.write_text("import threading, time\n"
                    "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\ntime.sleep(0.2)\n")
    out = tmp_path / "audit.html"
    p = cli("audit", "--html", out, "--", sys.executable, str(prog))
    assert p.returncode == 1, p.stderr  # a daemon in C at finalization: a danger, with the guard as its fix
    page = _read(out)
    elements(page).assert_inert()
    assert "<code>import finirace.guard; finirace.guard.install()</code>" in page
    assert "`" not in "".join(elements(page).text)


def test_a_stress_page_shows_stderr_only_when_it_says_more_than_the_tracebacks(cli, tmp_path):
    target = tmp_path / "segv.py"
    target.write_text("import ctypes\nctypes.string_at(0)\n")
    p = cli("stress", "--runs", "1", "-j", "1", "--perturb", "none", "--campaign", "segv", "--", sys.executable, target)
    assert p.returncode == 1, p.stderr
    out = tmp_path / "segv.html"
    assert cli("report", "segv", "--html", out).returncode == 1
    page = _read(out)
    assert "<h3>Python tracebacks</h3>" in page and "string_at" in page
    assert "<h3>stderr (end)</h3>" not in page  # it held the same tracebacks, once is enough
