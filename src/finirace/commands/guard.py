"""``finirace guard``: where the guard helper's header is, for a build.

``finirace guard --include`` prints the directory that holds
``finirace_guard.h``, the way ``pybind11 --includes`` prints its own, so a
build can say ``-I$(finirace guard --include)``; ``--cflags`` prints the
``-I`` option itself.  docs/fixing-extensions.md says how to use the header.
"""

from __future__ import annotations

import shlex
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "guard",
        help="where finirace_guard.h is (guards for C/C++ extensions at exit)",
        description="Print where the guard helper's C/C++ header finirace_guard.h is installed.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--include", action="store_true", help="print the directory holding finirace_guard.h")
    what.add_argument("--cflags", action="store_true", help="print the compiler option: -I<directory>")
    what.add_argument("--header", action="store_true", help="print the path of finirace_guard.h itself")
    p.set_defaults(run=run)


def run(args) -> int:
    from finirace.errors import UsageError
    from finirace.guard.header import header_path, include_dir

    if not header_path().is_file():
        raise UsageError(f"the header is missing from this installation: {header_path()}")
    if args.include:
        text = str(include_dir())
    elif args.cflags:
        text = "-I" + shlex.quote(str(include_dir()))
    else:
        text = str(header_path())
    sys.stdout.write(text + "\n")
    return 0
