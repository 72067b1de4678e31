"""The bundled catalog: one TOML file per known case, shipped in ``finirace.scenarios``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from finirace.scenario.format import Scenario, ScenarioError, load, shown


def bundled_paths() -> list[Path]:
    """Paths of the bundled scenario files, sorted by name."""
    root = resources.files("finirace.scenarios")
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".toml"))


def load_bundled() -> list[Scenario]:
    """Every bundled scenario; two with one name are an error in the catalog."""
    seen: dict[str, Path] = {}
    out = []
    for path in bundled_paths():
        sc = load(path)
        if sc.name in seen:
            raise ScenarioError(f"{path}: scenario name {sc.name!r} is already used by {seen[sc.name]}")
        seen[sc.name] = path
        out.append(sc)
    return out


def _exists(p: Path) -> bool:
    """Whether a file is there; a name the system refuses (too long, a NUL) reads as its error."""
    try:
        return p.exists()
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScenarioError(f"{shown(p)}: cannot read: {why}") from None


def resolve(ref: str) -> Scenario:
    """A scenario named on the command line: a file path, or a bundled name."""
    p = Path(ref)
    if p.suffix == ".toml" or _exists(p):
        return load(p)
    for path in bundled_paths():
        if path.stem == ref:
            return load(path)
    names = ", ".join(p.stem for p in bundled_paths())
    raise ScenarioError(f"{ref}: no such scenario file, and no bundled scenario of that name (bundled: {names})")
