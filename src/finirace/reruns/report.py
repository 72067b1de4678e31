"""What the session shows of a round: the test's failure text, its summary lines, its progress marks.

Crashes and hangs at exit, ordinary failures (flaky or order-dependent) and
reruns that ran no test are told apart, each with how many of the N reruns
it was, a command that reruns the test, and for an ordinary failure the
output of the rerun that failed, since that is what a user needs to see why.
"""

from __future__ import annotations

from finirace.outcome import RunKind
from finirace.records import StressRunRecord
from finirace.reruns.rounds import AT_EXIT, Round

OUTPUT_LINES = 30  # lines of a failed rerun's output shown in the test's failure text


def mark(record: StressRunRecord) -> tuple[str, str, str]:
    """(letter, word, colour) of one rerun, in the style of pytest's own ``.``/``PASSED``."""
    kind = record.outcome.kind
    if kind in AT_EXIT:
        return "C", kind.value, "red"
    if kind is RunKind.FAILED and record.outcome.reason.startswith("ran no test"):
        return "E", "no-test", "red"
    if kind is RunKind.FAILED:
        return "f", "failed", "yellow"
    return "r", "clean", "green"


def _output(record: StressRunRecord) -> list[str]:
    text = "\n".join(t for t in (record.stdout_tail.rstrip(), record.stderr_tail.rstrip()) if t)
    lines = text.splitlines()[-OUTPUT_LINES:]
    return [f"    | {line}" for line in lines] or ["    (no output)"]


def failure_text(rnd: Round) -> str:
    """The test's failure text: every kind of bad rerun, with counts, commands and output."""
    n = rnd.runs
    lines: list[str] = []
    if rnd.at_exit:
        lines.append(f"finirace: {len(rnd.at_exit)} of {n} reruns of this test crashed or hung at exit")
        for signature, count, repro in rnd.buckets(rnd.at_exit):
            lines.append(f"  {signature}  ({count}/{n} runs)")
            lines.append(f"    reproduce: {repro}")
    if rnd.failed:
        kind = rnd.failure_kind
        why = "it fails when run alone" if kind == "order-dependent" else "it passes and fails by chance"
        lines.append(f"finirace: {len(rnd.failed)} of {n} reruns of this test failed the ordinary way: "
                     f"{kind} ({why}; not a crash at exit)")
        for signature, count, repro in rnd.buckets(rnd.failed):
            lines.append(f"  {signature}  ({count}/{n} runs)")
            lines.append(f"    reproduce: {repro}")
        first = rnd.failed[0]
        lines.append(f"  rerun alone: {rnd.target.command()}")
        lines.append(f"  output of rerun {first.index + 1} (seed {first.seed}):")
        lines += _output(first)
    if rnd.no_test:
        first = rnd.no_test[0]
        lines.append(f"finirace: {len(rnd.no_test)} of {n} reruns {first.outcome.reason}: they tested nothing "
                     "(an error of the rerun, not a pass)")
        lines.append(f"  rerun alone: {rnd.target.command()}")
        lines.append(f"  output of rerun {first.index + 1}:")
        lines += _output(first)
    return "\n".join(lines)


def summary_lines(rnd: Round) -> list[tuple[str, str]]:
    """(line, colour) for the session's summary section."""
    n, nodeid = rnd.runs, rnd.target.nodeid
    out: list[tuple[str, str]] = []
    for signature, count, _ in rnd.buckets(rnd.at_exit):
        out.append((f"FAILED {nodeid}: {signature} (reproduced {count}/{n} times)", "red"))
    if rnd.failed:
        word = rnd.failure_kind.upper()
        out.append((f"{word} {nodeid}: failed {len(rnd.failed)} of {n} reruns the ordinary way; "
                    f"rerun alone: {rnd.target.command()}", "yellow"))
    if rnd.no_test:
        out.append((f"NO TEST {nodeid}: {len(rnd.no_test)} of {n} reruns {rnd.no_test[0].outcome.reason}", "red"))
    return out
