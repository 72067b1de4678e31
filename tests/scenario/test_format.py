"""The scenario parser: every validation error is one line naming where, and
no input whatever yields anything but a Scenario or a ScenarioError."""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from finirace.errors import UsageError
from finirace.scenario import STEP_KINDS, Scenario, ScenarioError, check_variants, load, loads

GOOD = """\
name = "seed"
summary = "worker blocked across finalize"
refs = ["bpo-33608"]

[threads]
main = ["init", "save", "spawn worker", "wait blocked", "restore", "finalize", "signal finalized"]
worker = ["ensure", "save", "signal blocked", "block until finalized", "restore", "release"]

[expect]
legacy = "clean, worker hung"
prefix = ["memory-error"]
"""


def scenario(threads: str, head: str = 'name = "s"\n', tail: str = "") -> str:
    return f"{head}[threads]\n{threads}\n{tail}"


def test_a_good_scenario_parses():
    sc = loads(GOOD, source="seed.toml")
    assert sc.thread_names == ("main", "worker")
    assert sc.threads[1].steps[3].kind == "block" and sc.threads[1].steps[3].arg == "finalized"
    assert sc.threads[1].steps[3].line == 7
    assert dict(sc.expect) == {"legacy": ("clean, worker hung",), "prefix": ("memory-error",)}
    assert sc.ordered


def test_noexcept_and_python_code():
    sc = loads(scenario('main = ["init", "noexcept restore", "python \\"print(1)\\""]'))
    steps = sc.threads[0].steps
    assert steps[1].noexcept and steps[1].kind == "restore"
    assert steps[2].kind == "python" and steps[2].arg == "print(1)"


# (scenario text, words the message must hold, the line it must name or None)
ERRORS = [
    ('name = "s"\n[threads\nmain = ["init"]', "bad TOML", 2),
    ('name = "s"\ncolour = 1\n[threads]\nmain = ["init"]', "unknown key 'colour'", 2),
    ('[threads]\nmain = ["init"]', "'name' is missing", None),
    ('name = 3\n[threads]\nmain = ["init"]', "'name' is missing or not a string", 1),
    ('name = "a b"\n[threads]\nmain = ["init"]', "must be letters, digits", 1),
    ('name = "s"\nsummary = 1\n[threads]\nmain = ["init"]', "'summary' must be a string", 2),
    ('name = "s"\nnotes = []\n[threads]\nmain = ["init"]', "'notes' must be a string", 2),
    ('name = "s"\nrefs = [1]\n[threads]\nmain = ["init"]', "'refs' must be a list of strings", 2),
    ('name = "s"', "no [threads] table", None),
    ('name = "s"\nthreads = 1', "'threads' must be a table", 2),
    (scenario('worker = ["ensure"]'), "has no 'main' thread", None),
    (scenario('main = ["init", "spawn 9x"]\n"9x" = ["ensure"]'), "is not a valid thread name", 3),
    (scenario('main = ["init"]\n"9x" = ["ensure"]'), "thread name '9x' must start with a letter", 4),
    (scenario('main = "init"'), "steps must be a list of strings", 3),
    (scenario("main = []"), "thread 'main' has no steps", 3),
    (scenario('main = ["init", 3]'), "thread 'main', step 2: a step must be a string, not int", 3),
    (scenario('main = [\n  "init",  # starts, with a comma\n  "save",\n  "wat e",\n]'), "step 3: unknown step 'wat'", 6),
    (scenario('main = [\n  "init",  # starts\n  [1, 2],\n  "wat e",\n]'), "step 2: a step must be a string, not list", 5),
    (scenario('main = ["init", "  "]'), "step 2: empty step", 3),
    (scenario('main = ["init\\u0000"]'), "NUL character", 3),
    (scenario('main = ["noexcept"]'), "'noexcept' must be followed by a C-API step", 3),
    (scenario('main = ["init", "finalise"]'), "unknown step 'finalise'; did you mean 'finalize'?", 3),
    (scenario('main = ["init", "frobnicate"]'), "unknown step 'frobnicate' (known:", 3),
    (scenario('main = ["noexcept wait e"]\nw = ["signal e"]'), "'noexcept' applies to C-API steps", 3),
    (scenario('main = ["init now"]'), "'init' takes no argument", 3),
    (scenario('main = ["python"]'), "'python' needs the code to run", 3),
    (scenario('main = ["python \\"  \\""]'), "'python' needs the code to run", 3),
    (scenario('main = ["python \\"x = 1"]'), "step 1 'python \"x = 1': unterminated quote", 3),
    (scenario("main = [\"python 'x = 1\"]"), "unterminated quote: the code opens with '", 3),
    (scenario('main = ["init", "python \\"x = (\\""]'), "step 2 'python \"x = (\"': the Python code does not compile", 3),
    (scenario('main = ["python \\"if x\\""]'), "the Python code does not compile: expected ':'", 3),
    (scenario('main = ["python \\"x = 1\\ny = )\\""]'), "does not compile: unmatched ')' (line 2 of the code)", 3),
    (scenario('main = ["block for e"]'), "write 'block' or 'block until EVENT'", 3),
    (scenario('main = ["spawn"]'), "'spawn' needs a thread name", 3),
    (scenario('main = ["lock a-b c"]'), "is not a valid lock name", 3),
    (scenario('main = ["spawn ghost"]'), "no thread named 'ghost'", 3),
    (scenario('main = ["spawn main"]'), "'main' is already running", 3),
    (scenario('main = ["spawn w"]\nw = ["spawn w"]'), "a thread cannot start itself", 4),
    (scenario('main = ["spawn w", "spawn w"]\nw = ["ensure"]'), "is already started by main[0] spawn w", 3),
    (scenario('main = ["spawn w", "join main"]\nw = ["ensure"]'), "a thread cannot join itself", 3),
    (scenario('main = ["spawn w", "signal e"]\nw = ["signal e"]'), "event 'e' is already signalled by main[1]", 4),
    (scenario('main = ["init"]\nw = ["ensure"]'), "thread 'w' is never started", 4),
    (scenario('main = ["wait e"]'), "event 'e' is never signalled", 3),
    (scenario('main = ["block until e"]'), "event 'e' is never signalled", 3),
    (scenario('main = ["spawn w"]\nw = ["join main"]'), "thread 'main' is never started", 4),
    (scenario('main = ["init"]', head='name = "s"\nexpect = 1\n'), "'expect' must be a table", 2),
    (scenario('main = ["init"]', tail="[expect]\nlegacy = 3\n"), "[expect] legacy: give an outcome label", 5),
    (scenario('main = ["init"]', tail="[expect]\nlegacy = []\n"), "[expect] legacy: give an outcome label", 5),
    (scenario('main = ["init"]', tail='[expect]\nlegacy = "fine"\n'), "unknown run outcome 'fine'", 5),
    (scenario('main = ["init"]', tail='[expect]\nlegacy = "clean, main sleeping"\n'), "unknown thread outcome 'sleeping'", 5),
    (scenario('main = ["init"]', tail='[expect]\nlegacy = "clean, main"\n'), "is not 'THREAD OUTCOME'", 5),
    (scenario('main = ["init"]', tail='[expect]\nlegacy = "clean, ghost hung"\n'), "no thread named 'ghost'", 5),
]


@pytest.mark.parametrize("text, words, line", ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_each_validation_error_is_one_line_naming_where(text, words, line):
    with pytest.raises(ScenarioError) as err:
        loads(text, source="case.toml")
    msg = str(err.value)
    assert isinstance(err.value, UsageError)  # hence exit status 2 from the CLI
    assert "\n" not in msg
    assert words in msg, msg
    prefix = f"case.toml:{line}: " if line else "case.toml: "
    assert msg.startswith(prefix), msg


def test_step_errors_name_thread_and_step():
    with pytest.raises(ScenarioError) as err:
        loads(scenario('main = ["init", "spawn w"]\nw = [\n  "ensure",\n  "relase",\n]'), source="x.toml")
    assert str(err.value) == "x.toml:6: thread 'w', step 2: unknown step 'relase'; did you mean 'release'?"


def test_file_errors(tmp_path):
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load(tmp_path / "nope.toml")
    with pytest.raises(ScenarioError, match="is a directory"):
        load(tmp_path)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ScenarioError, match=r"not UTF-8 text \(byte 11\)"):
        load(bad)


def test_unknown_expect_variant_is_refused_with_a_hint():
    sc = loads(GOOD, source="seed.toml")
    check_variants(sc, ["legacy", "prefix", "wrapper"])
    with pytest.raises(ScenarioError) as err:
        check_variants(sc, ["legacy", "prefixed"])
    assert str(err.value) == "seed.toml: [expect] names unknown variant 'prefix'; did you mean 'prefixed'?"


# ----------------------------------------------------------------- fuzzing

def _parse_or_error(text):
    try:
        sc = loads(text, source="fuzz.toml")
    except ScenarioError as exc:
        msg = str(exc)
        assert msg.startswith("fuzz.toml") and "\n" not in msg
        return None
    assert isinstance(sc, Scenario)
    assert sc.threads[0].name == "main"
    return sc


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_scenario_or_one_line_error(text):
    _parse_or_error(text)


words = st.sampled_from(
    list(STEP_KINDS) + ["noexcept", "until", "main", "worker", "blocked", "L", "", " ", "9", '"', "'", "\\", "[", "]",
                        "=", ",", "#", "\u00e9", "\x00", "\n", "clean", "hung", "legacy", "[expect]", "[threads]"]
)


@st.composite
def mutated(draw):
    """The good scenario with a few edits: a word inserted, a span deleted or a line repeated.

    Edits of a valid file reach the deep checks (steps, references, [expect])
    that random text never gets past the TOML parser to.
    """
    text = GOOD
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["insert", "delete", "repeat-line"]))
        if edit == "insert":
            text = text[:pos] + draw(words) + text[pos:]
        elif edit == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 12)) :]
        else:
            lines = text.splitlines(keepends=True)
            k = draw(st.integers(0, len(lines) - 1))
            text = "".join(lines[: k + 1] + [lines[k]] + lines[k + 1 :])
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_any_edited_scenario_is_a_scenario_or_one_line_error(text):
    _parse_or_error(text)


def test_the_fuzzer_reaches_good_scenarios_too():
    # guard against a fuzzer that only ever produces garbage: it must be able to make a valid
    # scenario with two threads, or the test above only exercises the first checks
    from hypothesis import find

    assert _parse_or_error(GOOD) is not None
    text = find(mutated(), lambda t: t != GOOD and _parse_or_error(t) is not None)
    assert "[threads]" in text
    find(mutated(), lambda t: "thread 'worker', step" in _error(t))


def _error(text):
    try:
        loads(text)
    except ScenarioError as exc:
        return str(exc)
    return ""
