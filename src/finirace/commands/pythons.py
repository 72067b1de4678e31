"""``finirace pythons``: the interpreters finirace finds, and what each can do.

Lists every interpreter found (the running one, PATH, pyenv's versions, Debian's
debug builds) with its version, build, the model era it maps to, and whether
it can be embedded; one that cannot is listed with the reason, never a traceback.
"""

from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pythons",
        help="list the interpreters found, their build and model era",
        description="List the interpreters finirace lab can use, with the model era each one maps to.",
    )
    p.add_argument("--python", action="append", metavar="PATH", help="probe only these (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object with a list 'pythons'")
    p.set_defaults(run=run)


def run(args) -> int:
    from finirace.conformance import variant_for
    from finirace.lab import interpreters

    found = interpreters.resolve(args.python, all_found=not args.python)
    rows = [
        {
            "path": i.path,
            "executable": i.executable,
            "version": i.version_text if i.version != (0, 0, 0) else None,
            "build": i.build if i.version != (0, 0, 0) else None,
            "free_threaded": i.free_threaded,
            "era": variant_for(i) if i.can_embed else None,
            "embeds": i.can_embed,
            "reason": i.reason,
            "cflags": list(i.cflags),
            "ldflags": list(i.ldflags),
        }
        for i in found
    ]
    if args.json:
        sys.stdout.write(json.dumps({"pythons": rows}, indent=2) + "\n")
        return 0
    from finirace.report.console import console
    from rich.table import Table

    table = Table(title="interpreters")
    for col in ("version", "build", "era", "embeds", "path"):
        table.add_column(col, overflow="fold")
    for r in rows:
        embeds = "yes" if r["embeds"] else f"no: {r['reason']}"
        table.add_row(r["version"] or "?", r["build"] or "", r["era"] or "-", embeds, r["path"])
    console().print(table)
    return 0
