"""Loading a variant file: a user's Python module that defines ``VARIANT`` (see :mod:`finirace.model.api`).

Why here and checked so hard: the file is the user's code, run inside
``finirace check``.  Whatever goes wrong in it (no such file, a syntax error,
an exception at import, no ``VARIANT``, the wrong type, an unknown base era, a
name that is taken, a patch that names no modelled function or returns no
steps) must read as one line naming the file and the problem, exit status 2,
never a traceback from deep in the explorer.  So every patch is tried here, on
every operation of the era, before any search starts.
"""

from __future__ import annotations

import difflib
import os
import sys
import traceback
import types
from typing import Iterable

from finirace.errors import UsageError
from finirace.model.variant import Variant


def load_variant_files(paths: Iterable[str], taken: Iterable[str]) -> dict[str, Variant]:
    """The variants the files define, by name; a bad file is a :class:`UsageError`."""
    names = set(taken)
    out: dict[str, Variant] = {}
    for path in paths:
        v = load_variant_file(path)
        if v.name in names:
            what = "a built-in era" if v.name not in out else "another variant file"
            raise UsageError(f"{path}: variant name {v.name!r} is already taken by {what}; choose another name")
        names.add(v.name)
        out[v.name] = v
    return out


def load_variant_file(path: str) -> Variant:
    """Run one variant file and return its checked ``VARIANT``."""
    if os.path.isdir(path):
        raise UsageError(f"--variant-file {path}: a directory, not a Python file")
    if not os.path.isfile(path):
        raise UsageError(f"--variant-file {path}: no such file")
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as exc:
        raise UsageError(f"--variant-file {path}: cannot read: {exc.strerror or exc}") from None
    try:
        code = compile(source, path, "exec")
    except SyntaxError as exc:
        raise UsageError(f"{path}:{exc.lineno or 0}: syntax error: {exc.msg}") from None
    except ValueError as exc:  # null bytes
        raise UsageError(f"{path}: not Python source: {exc}") from None
    stem = "".join(ch if ch.isalnum() else "_" for ch in os.path.splitext(os.path.basename(path))[0])
    module = types.ModuleType(f"finirace_variant_file_{stem}")
    module.__file__ = os.path.abspath(path)
    sys.modules[module.__name__] = module  # dataclasses and pickling look modules up here
    try:
        exec(code, module.__dict__)
    except BaseException as exc:  # noqa: B036 - the user's code: SystemExit too
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UsageError(_at_import(path, exc)) from None
    variant = module.__dict__.get("VARIANT")
    if variant is None:
        raise UsageError(f"{path}: defines no VARIANT (write VARIANT = variant(base=..., name=..., ...) "
                         "with finirace.model.api)")
    if not isinstance(variant, Variant):
        raise UsageError(f"{path}: VARIANT is a {type(variant).__name__}, not a Variant "
                         "(make it with finirace.model.api.variant)")
    _check(path, variant)
    from dataclasses import replace

    return replace(variant, source=path)  # where it came from: errors while exploring name the file


def _at_import(path: str, exc: BaseException) -> str:
    from finirace.model.api import VariantError

    line = 0
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            line = frame.lineno or 0
    where = f"{path}:{line}" if line else path
    if isinstance(exc, VariantError):
        return f"{where}: {exc}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{where}: {type(exc).__name__} while importing it" + (f": {text}" if text else "")


def _check(path: str, v: Variant) -> None:
    """The base era exists, and every patch names a function the era calls and returns steps."""
    from finirace.model.variants import VARIANTS

    if v.follows not in VARIANTS:
        raise UsageError(f"{path}: variant {v.name!r} changes unknown base era {v.follows!r} "
                         f"(known: {', '.join(VARIANTS)})")
    if v.released:
        raise UsageError(f"{path}: variant {v.name!r} says it models released CPython "
                         f"{', '.join('%d.%d' % r for r in v.released)}: only built-in eras map to releases")
    if not v.patches:
        return
    from dataclasses import replace

    from finirace.model.patch import known_functions, patched

    base = replace(v, patches=())
    programs = _every_program(base)
    known = known_functions(programs)
    for function, _ in v.patches:
        if function not in known:
            close = difflib.get_close_matches(function, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(known))}"
            raise UsageError(f"{path}: variant {v.name!r} patches {function!r}, which no operation of "
                             f"{v.follows!r} calls; {hint}")
    for prog in programs:
        try:
            patched(prog, v)
        except Exception as exc:  # the user's patch function
            raise UsageError(f"{path}: a patch of variant {v.name!r} failed on {prog[0].frames[-1]}: "
                             f"{type(exc).__name__}: {exc}") from None


def _every_program(v: Variant):
    from finirace.model.programs import OPERATIONS
    from finirace.model.threads import bootstrap, teardown

    progs = [bootstrap(v), teardown(v)]
    for kind, build in OPERATIONS.items():
        for arg in (None, "e"):  # block and block until: the argument-dependent ones
            progs.append(build(v, arg))
    return progs
