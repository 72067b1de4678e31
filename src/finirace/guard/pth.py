"""Write (or remove) the ``finirace-guard.pth`` hook in a site-packages directory.

``python -m finirace.guard.pth install`` puts one line into the running
interpreter's ``purelib`` (a venv's own site-packages inside a venv):
``site`` runs it at every start of that interpreter, and it imports
:mod:`finirace.guard.boot` only when ``FINIRACE_GUARD`` is set, so a start
without the variable pays one environment lookup.  Why a command and not a
file in the wheel: setuptools has no way to put a ``.pth`` at the root of
site-packages from ``pyproject.toml``, an editable install (``pip install
-e``) would not carry one anyway, and an extra cannot add files; the
command works the same for all of them.  ``pip uninstall finirace`` does not
remove the line, which then does nothing (the import failure is caught);
``uninstall`` removes it.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import sysconfig

PTH_NAME = "finirace-guard.pth"
# one line: site executes lines starting with "import"
PTH_LINE = (
    'import os; exec("try:\\n import finirace.guard.boot\\nexcept ImportError:\\n pass") '
    'if os.environ.get("FINIRACE_GUARD", "").strip() not in ("", "0") else None\n'
)


def default_site() -> str:
    """The running interpreter's pure-Python site-packages (a venv's own in a venv)."""
    return sysconfig.get_paths()["purelib"]


def install(site: str | None = None) -> str:
    """Write the hook into ``site`` (default: :func:`default_site`); the path written."""
    site = site or default_site()
    if not os.path.isdir(site):
        raise NotADirectoryError(errno.ENOTDIR, "not a site-packages directory", site)
    path = os.path.join(site, PTH_NAME)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(PTH_LINE)
    os.replace(tmp, path)  # a Python starting meanwhile never reads half a line
    return path


def uninstall(site: str | None = None) -> str | None:
    """Remove the hook from ``site``; the path removed, or ``None`` when there was none."""
    path = os.path.join(site or default_site(), PTH_NAME)
    try:
        os.remove(path)
    except FileNotFoundError:
        return None
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m finirace.guard.pth", description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=("install", "uninstall", "where"))
    p.add_argument("--site", metavar="DIR", help="site-packages directory (default: this interpreter's purelib)")
    args = p.parse_args(argv)
    try:
        if args.action == "install":
            print(f"installed: {install(args.site)} (active when FINIRACE_GUARD=1, stop or park)")
        elif args.action == "uninstall":
            gone = uninstall(args.site)
            print(f"removed: {gone}" if gone else "nothing to remove")
        else:
            print(os.path.join(args.site or default_site(), PTH_NAME))
    except OSError as exc:
        where = exc.filename or args.site or default_site()
        print(f"finirace guard: cannot {args.action} the hook: {exc.strerror or exc}: {where}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
