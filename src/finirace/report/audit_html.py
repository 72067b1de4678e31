"""``finirace audit --html FILE``: the threads alive at finalization, their stacks, and each era's fate.

The page leads with a grid, one row per thread and one column per CPython
era, each cell the fate that era gives the thread, coloured by how bad it is
(killed or crashed, waiting for ever, fine), because the question a
maintainer brings is "which of my users' Pythons does this hurt?".  Each
thread's Python and native stacks, its dangers and the suggested fix follow.
"""

from __future__ import annotations

from finirace.report.page import anchor, badge, esc, esc_code, page

STYLE = """
table.fates td { max-width: 16em; font-size: 13px; }
.danger { color: var(--bad); font-weight: 600; } .fix { color: #2e7d32; }
"""

_BAD = ("killed", "crash", "abort", "segfault", "use-after-free", "invalid", "pthread_exit", "terminate")
_WAIT = ("for ever", "forever", "hang", "parked", "blocks", "waits", "deadlock")


def _fate_class(fate: str) -> str:
    low = fate.lower()
    if any(w in low for w in _BAD):
        return "fate-bad"
    if any(w in low for w in _WAIT):
        return "fate-wait"
    return "fate-ok"


def document(report, argv: list[str]) -> str:
    """The page of one audit (a :class:`finirace.audit.AuditReport`) of the command ``argv``."""
    version = ".".join(map(str, report.version)) if report.version else "?"
    title = f"finirace audit: {' '.join(argv)}"
    from finirace.audit.ending import stderr_tail
    from finirace.audit import not_recorded

    tail = stderr_tail(report.exit.stderr)
    stderr = f"<h3>The end of its stderr</h3><pre>{esc(chr(10).join(tail))}</pre>" if tail else ""
    if not report.recorded:
        hang = "".join(f"<h3>thread {t.number} {esc(t.name)}</h3><pre>{esc(chr(10).join(str(f) for f in t.frames))}</pre>"
                       for t in report.hang)
        body = (f"<h1>finirace audit</h1><p><code>{esc(' '.join(argv))}</code></p>"
                f"<p>{esc(not_recorded(report, argv))}.</p>{hang}{stderr}")
        return page(title, body, STYLE)
    eras = []
    for t in report.threads:
        for era, versions, _ in t.predictions:
            if (era, versions) not in eras:
                eras.append((era, versions))
    head = "".join(f"<th>{esc(era)}<br><small>{esc(versions)}</small></th>" for era, versions in eras)
    rows, sections = [], []
    for n, t in enumerate(report.threads):
        key = anchor("thread", n)
        fates = {(era, versions): fate for era, versions, fate in t.predictions}
        cells = "".join(f'<td class="{_fate_class(fates.get(e, ""))}">{esc(fates.get(e, ""))}</td>' for e in eras)
        kind = "daemon" if t.daemon else "non-daemon"
        rows.append(f'<tr><th><a href="#{key}">{esc(t.name)}</a><br><small>{kind}</small></th>{cells}</tr>')
        parts = [f'<section class="card" id="{key}"><h2>{esc(t.name)} {badge(kind)}</h2>']
        parts.extend(f'<p class="danger">danger: {esc(flag)}</p>' for flag in t.flags)
        if t.fix:
            parts.append(f'<p class="fix">{esc_code(t.fix)}</p>')
        if t.python_stack:
            parts.append(f"<h3>Python stack</h3><pre>{esc(''.join(t.python_stack))}</pre>")
        if t.native_stack:
            parts.append("<h3>Native stack (innermost first)</h3><pre>"
                         + esc("\n".join(str(f) + (f"  [{f.language}]" if f.language in ("c++", "rust") else "")
                                         for f in t.native_stack)) + "</pre>")
        elif t.native_top:
            parts.append("<h3>Native stack (innermost first)</h3><pre>" + esc("\n".join(t.native_top)) + "</pre>")
        sections.append("".join(parts) + "</section>")
    grid = (f'<table class="grid fates"><thead><tr><th>thread</th>{head}</tr></thead><tbody>{"".join(rows)}'
            "</tbody></table>") if rows else "<p>No other thread was alive at finalization.</p>"
    end = ""
    if report.failed:
        e = report.ending
        who = (f" in thread {esc(report.culprit.name)}" if report.culprit is not None
               else " in the main thread" if report.ended_in_main else "")
        stack = f"<pre>{esc(chr(10).join(str(f) for f in e.frames))}</pre>" if e is not None and e.frames else ""
        end = (f'<section class="card"><h2>How the run ended</h2><p class="danger">{esc(report.exit.describe())}'
               f"{': ' + esc(e.message) if e is not None and e.message else ''}{who}</p>{stack}{stderr}</section>")
    body = (f"<h1>finirace audit</h1><p><code>{esc(' '.join(argv))}</code><br>Python {esc(version)}: "
            f"{len(report.threads)} thread(s) alive when finalization started; run {esc(report.exit.describe())}.</p>"
            f"{end}<h2>What each CPython era does to them</h2>{grid}{''.join(sections)}")
    return page(title, body, STYLE)
