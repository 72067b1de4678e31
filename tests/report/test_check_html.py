"""``finirace check --html``: the seed counterexample's page, read back and rendered in a real browser.

The browser is Debian's ``chromium`` (``./test.sh`` installs it when missing),
headless, with a fresh profile and every background service off, so the test
loads nothing but the file: it renders the page to a PNG and dumps the DOM as
the browser built it, and the DOM must hold one lane per thread, the
highlighted bad access and its freed-by and allocated-by links.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-quic", "--hide-scrollbars")


def _seed_page(cli, tmp_path):
    out = tmp_path / "seed.html"
    p = cli("check", "seed", "--variant", "prefix", "--html", out)
    assert p.returncode == 0, p.stderr
    return out


def _check_structure(page) -> None:
    page.assert_inert()
    first = [a for t, a in page.tags if t == "section"][0]["id"]
    starts = [n for n, (t, _) in enumerate(page.tags) if t == "section"]
    first_section = page.tags[starts[0]:starts[1] if len(starts) > 1 else None]
    lanes = [a for t, a in first_section if t == "th" and "lane" in a.get("class", "").split()]
    assert len(lanes) == 2  # main and worker, in the first counterexample (the memory error)
    assert page.with_class("bad-access")
    freed = page.with_class("freed-by")
    alloc = page.with_class("allocated-by")
    assert freed and alloc
    for link in (freed[0], alloc[0]):
        target = link["href"].removeprefix("#")
        assert target.startswith(first) and target in page.ids
    assert page.with_class("freed") and page.with_class("allocated")
    assert page.with_class("preempt-mark")


def test_the_seed_page_has_lanes_the_bad_access_and_its_links(cli, tmp_path, elements):
    _check_structure(elements(_seed_page(cli, tmp_path).read_text(encoding="utf-8")))


def test_the_seed_page_in_headless_chromium(cli, tmp_path, elements):
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("chromium is not installed (./test.sh installs it as root)")
    url = _seed_page(cli, tmp_path).as_uri()
    png = tmp_path / "seed.png"
    run = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1250"]
    shot = subprocess.run([*run, f"--screenshot={png}", url], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 40_000, len(data)  # a blank page compresses to a few kB; this one has lanes and text
    dom = subprocess.run([*run, "--dump-dom", url], capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    assert dom.returncode == 0, dom.stderr[-2000:]
    _check_structure(elements(dom.stdout))


def test_a_replayed_schedule_gets_its_page_too(cli, tmp_path, elements):
    import re

    listing = cli("check", "seed", "--variant", "prefix", "-v").stdout
    token = re.search(r"--replay (v1\.\S+)", listing).group(1)
    out = tmp_path / "replay.html"
    p = cli("check", "seed", "--variant", "prefix", "--replay", token, "--html", out)
    assert p.returncode == 0, p.stderr
    page = elements(out.read_text(encoding="utf-8"))
    page.assert_inert()
    assert token in "".join(page.text) and page.with_class("bad-access")


def test_a_bounded_search_marks_what_it_did_not_reach_as_a_warning(cli, tmp_path, elements):
    out = tmp_path / "bounded.html"
    p = cli("check", "seed", "--variant", "exit", "--preemptions", "0", "--html", out)
    assert p.returncode == 0, p.stderr
    page = elements(out.read_text(encoding="utf-8"))
    page.assert_inert()
    text = " ".join(page.text)
    assert "0 differ from expectations, 1 with expected outcomes this search did not reach" in text
    assert "? not reached: clean, worker exited" in text and "missing" not in text
    assert page.with_class("grade-warn") and not page.with_class("grade-no")
    strict = tmp_path / "strict.html"
    assert cli("check", "seed", "--variant", "exit", "--preemptions", "0", "--strict", "--html", strict).returncode == 1
    page = elements(strict.read_text(encoding="utf-8"))
    assert "✗ missing: clean, worker exited" in " ".join(page.text) and page.with_class("grade-no")
