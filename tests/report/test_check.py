"""How verdicts are shown: cells, counterexample tables, valgrind wording, JSON, JUnit."""

import json
from dataclasses import replace

from finirace.explore import check_system, replay
from finirace.model.system import Transition
from finirace.outcome import Access, MemoryErrorReport, RunKind, RunOutcome, StepRef, ThreadOutcome, ThreadResult
from finirace.report.check import cell_lines, counterexample_lines, junit_cases, outcome_lines, to_json, trace_lines


class Handoff:
    """main frees a block, worker reads it: a use-after-free when main goes first."""

    threads = ("main", "worker")
    steps = {"main": StepRef("main", 0, "finalize"), "worker": StepRef("worker", 0, "restore")}

    def initial(self):
        return (0, 0)

    def enabled(self, state):
        return tuple(t for t, pc in zip(self.threads, state) if pc < 1)

    def step(self, state, thread):
        fn = "zapthreads" if thread == "main" else "take_gil"
        note = "frees PyThreadState of worker" if thread == "main" else "reads tstate->interp"
        if thread == "main":
            nxt = (1, state[1])
        else:
            nxt = (state[0], 2 if state[0] else 1)  # 2: it read freed memory
        return nxt, Transition(thread, fn, self.steps[thread], note, frozenset({"ts"}), frozenset({"ts"}))

    def outcome(self, state):
        if state[1] == 2:
            err = MemoryErrorReport(
                "Invalid read", "PyThreadState of worker", Access("worker", "take_gil", self.steps["worker"]), size=8,
                offset=8, block_size=368, freed_by=Access("main", "zapthreads", self.steps["main"]),
                allocated_by=Access("worker", "PyGILState_Ensure"),
            )
            return RunOutcome(RunKind.MEMORY_ERROR, (ThreadResult("main", None), ThreadResult("worker", None, self.steps["worker"], "take_gil")), memory_errors=(err,))
        if state == (1, 1):
            return RunOutcome(RunKind.CLEAN, tuple(ThreadResult(t, ThreadOutcome.FINISHED) for t in self.threads))
        return None


def verdict(expected=None):
    return check_system(Handoff(), scenario="handoff", variant="prefix", expected=expected)


def test_cells_mark_labels_against_expectations():
    assert cell_lines(verdict()) == ["memory-error", "clean"]
    assert cell_lines(verdict(("clean",))) == ["✗ memory-error", "✓ clean"]
    assert cell_lines(verdict(("clean", "timeout"))) == ["✗ memory-error", "✓ clean", "✗ missing: timeout"]


def test_an_expectation_a_bounded_search_did_not_reach_is_unsure_unless_strict():
    bounded = replace(verdict(("memory-error", "clean", "timeout")), complete=False, strategy="preemptions<=0")
    assert not bounded.fails() and bounded.fails(strict=True)
    assert cell_lines(bounded) == ["✓ memory-error", "✓ clean", "? not reached: timeout", "(preemptions<=0)"]
    assert cell_lines(bounded, strict=True)[2] == "✗ missing: timeout"
    # an outcome reached that nothing expects fails whatever the search
    assert replace(verdict(("clean",)), complete=False).fails()


def test_trace_has_a_column_per_thread_and_marks_preemptions():
    cx = replay(Handoff(), "v1.ab")
    lines = trace_lines(cx, Handoff.threads)
    assert lines[0].split() == ["#", "main", "worker"]
    col = lines[0].index("worker")
    # the note wraps inside main's column, worker's step comes on the next row
    assert " ".join(lines[2].split() + lines[3].split()) == "1 finalize › zapthreads: frees PyThreadState of worker"
    assert lines[4][col:] == "restore › take_gil: reads tstate->interp"
    assert "↯" not in "".join(lines)  # main had finished: no preemption


class Chatty:
    """Two threads of two steps with long notes, to see wrapping and preemption marks."""

    threads = ("main", "t1")

    def initial(self):
        return ""

    def enabled(self, state):
        return tuple(t for t, c in zip(self.threads, "ab") if state.count(c) < 2)

    def step(self, state, thread):
        c = "ab"[self.threads.index(thread)]
        note = "a rather long note that explains at length what this step did to the runtime " + c
        return state + c, Transition(thread, "step", None, note, frozenset({"x"}), frozenset({"x"}))

    def outcome(self, state):
        return RunOutcome(RunKind.CLEAN) if len(state) == 4 else None


def test_long_notes_wrap_and_preemptions_are_marked():
    cx = replay(Chatty(), "v1.abab")
    lines = trace_lines(cx, Chatty.threads)
    body = "\n".join(lines)
    marked = [ln for ln in lines if "↯" in ln]
    assert len(marked) == 2 and all(ln.split()[1] == "↯" for ln in marked)  # in the margin, after the step number
    assert "(preempts main)" in marked[0]
    # no note is cut: every word of each note is there
    assert body.replace("\n", " ").split().count("runtime") == 4
    assert max(len(ln) for ln in lines) <= 100
    narrow = trace_lines(cx, Chatty.threads, width=60)
    assert max(len(ln) for ln in narrow) <= 60
    assert "\n".join(narrow).replace("\n", " ").split().count("runtime") == 4


def test_memory_errors_are_worded_like_valgrind():
    v = verdict()
    cx = v.counterexample("memory-error")
    text = "\n".join(counterexample_lines(v, cx, Handoff.threads))
    assert "==finirace== Invalid read of size 8" in text
    assert "==finirace==    at take_gil in thread worker (step worker[0] restore)" in text
    assert "is 8 bytes inside a block of size 368 (PyThreadState of worker)" in text
    assert "==finirace==  free'd" in text and "Block was alloc'd" in text
    assert f"--variant prefix --replay {cx.schedule}" in text
    assert "worker: cut short in take_gil, at step worker[0] restore" in "\n".join(outcome_lines(cx.outcome))


def test_json_is_serializable_and_complete():
    doc = json.loads(json.dumps(to_json([verdict(("clean",))]), ensure_ascii=False))
    (res,) = doc["results"]
    assert res["match"] is False and res["expected"] == ["clean"]
    assert [o["label"] for o in res["outcomes"]] == ["memory-error", "clean"]
    assert res["outcomes"][0]["memory_errors"][0]["kind"] == "Invalid read"
    assert res["counterexamples"][0]["trace"][0]["function"] == "zapthreads"


def test_junit_fails_mismatches_and_skips_unexpected():
    cases = junit_cases([verdict(("clean",)), verdict(), verdict(("clean", "memory-error"))], {"handoff": Handoff.threads})
    assert cases[0].failure == "reached memory-error; clean; expected clean"
    assert "Invalid read" in cases[0].details
    assert cases[1].skipped and cases[1].failure is None
    assert cases[2].failure is None and cases[2].skipped is None
