"""Schedule tokens: round trip, and one clear error for anything malformed."""

import pytest
from hypothesis import given, strategies as st

from finirace.errors import UsageError
from finirace.explore.schedule import ScheduleError, decode, encode


def test_runs_are_length_encoded():
    assert encode([0, 0, 0, 1, 1, 0]) == "v1.a3b2a"
    assert decode("v1.a3b2a") == (0, 0, 0, 1, 1, 0)


def test_empty_schedule():
    assert encode([]) == "v1."
    assert decode("v1.") == ()


@given(st.lists(st.integers(0, 25), max_size=200))
def test_round_trip(choices):
    assert decode(encode(choices)) == tuple(choices)


@pytest.mark.parametrize(
    "token, words",
    [
        ("a3b2", "not a finirace schedule"),
        ("v2.a3", "format 'v2'"),
        ("v1.a3B", "unexpected 'B'"),
        ("v1.3a", "unexpected '3'"),
        ("v1.a0", "a run of 0 steps"),
        ("v1.a99999999", "longer than"),
    ],
)
def test_malformed_tokens_are_usage_errors(token, words):
    with pytest.raises(ScheduleError) as err:
        decode(token)
    assert isinstance(err.value, UsageError)
    assert words in str(err.value)
    assert "\n" not in str(err.value)


@given(st.text(max_size=40))
def test_any_text_decodes_or_fails_cleanly(text):
    try:
        out = decode(text)
    except ScheduleError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert decode(encode(out)) == out
