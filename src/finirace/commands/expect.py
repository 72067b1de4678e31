"""``finirace check --print-expect`` / ``--write-expect``: a scenario's expectations from the model.

When an era is added, every catalog scenario needs its ``[expect]`` entry for
it; the entry is what exhaustive exploration reaches, reviewed by a person.
This prints those entries per scenario or writes them into the files
(:mod:`finirace.scenario.expectations` edits the text), so the entries are
computed, never typed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from finirace.errors import UsageError


def entries(scenarios, verdicts) -> dict[str, dict[str, tuple[str, ...]]]:
    """Per scenario name, per variant, the labels the model reaches (every run explored)."""
    out: dict[str, dict[str, tuple[str, ...]]] = {sc.name: {} for sc in scenarios}
    for v in verdicts:
        if not v.complete:
            raise UsageError(f"{v.scenario} under {v.variant}: not every run was explored ({v.strategy}); no expectation written")
        out[v.scenario][v.variant] = v.labels
    return out


def present(args, scenarios, verdicts, order) -> int:
    from finirace.scenario.expectations import expect_entry, with_expectations

    found = entries(scenarios, verdicts)
    out = sys.stdout
    written = 0
    for sc in scenarios:
        new = found[sc.name]
        if not args.write_expect:
            out.write(f"# {sc.name}" + (f" ({sc.path})" if sc.path else "") + "\n[expect]\n")
            out.write("".join(expect_entry(var, labels) + "\n" for var, labels in new.items()) + "\n")
            continue
        if not sc.path:
            raise UsageError(f"{sc.name}: not read from a file; nothing to write the expectations into")
        path = Path(sc.path)
        try:
            text = path.read_text(encoding="utf-8")
            changed = {var: labels for var, labels in new.items() if tuple(sc.expect.get(var, ())) != labels}
            if not changed:
                continue
            path.write_text(with_expectations(text, changed, order, source=str(path)), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{path}: cannot write the expectations: {exc.strerror or exc}") from None
        for var, labels in changed.items():
            out.write(f"{path}: {expect_entry(var, labels)}\n")
            written += 1
    if args.write_expect:
        out.write(f"{written} [expect] entries written in {len(scenarios)} scenario file(s) checked\n")
    return 0
