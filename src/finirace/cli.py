"""The ``finirace`` command: one sub-command per module in ``finirace.commands``.

Each command module exposes ``register(subparsers)`` and a ``run(args) -> int``
set as the parser's default.  This file only wires them together and turns the
errors a user can cause into one line and exit status 2, so that no bad input
ever ends in a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from finirace import __version__
from finirace.errors import UsageError

DESCRIPTION = ("Find, reproduce and explain interpreter-finalization races in CPython and its C extensions. "
               "Run 'finirace COMMAND --help' for a command's options.")

# Command modules, in the order ``finirace --help`` lists them.  A module that
# fails to import (an optional dependency missing) is skipped, never fatal.
COMMANDS = ("check", "lab", "pythons", "stress", "audit", "runs", "report", "guard")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem, then exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser(only: str | None = None) -> Parser:
    """The parser; with ``only`` (a command name), just that command's module is imported."""
    parser = Parser(prog="finirace", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"finirace {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS if only not in COMMANDS else (only,):
        try:
            module = importlib.import_module(f"finirace.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("finirace.commands"):
                continue  # command not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    # start-up cost: a command line naming a command imports that command alone
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except UsageError as exc:
        sys.stderr.write(f"finirace {args.command}: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("finirace: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
