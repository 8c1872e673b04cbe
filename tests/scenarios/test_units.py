from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gameday.scenarios.units import (
    MAX_DURATION_S,
    format_duration,
    format_multiplier,
    format_percent,
    parse_duration,
    parse_multiplier,
    parse_percent,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("200ms", 0.2),
        ("30s", 30.0),
        ("2.5s", 2.5),
        ("15m", 900.0),
        ("1h30m", 5400.0),
        ("1d", 86400.0),
        ("1m30s", 90.0),
        ("0", 0.0),
        (0, 0.0),
        (" 5s ", 5.0),
    ],
)
def test_durations_parse(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "bad", ["", "15", 15, 1.5, "5 s", "s", "5sec", "-5s", "5s5", True, None, "1h 30m"]
)
def test_bad_durations_explain_the_format(bad: object) -> None:
    with pytest.raises(ValueError, match="expected a duration such as"):
        parse_duration(bad)


def test_bare_number_duration_is_named_as_such() -> None:
    with pytest.raises(ValueError, match=r"found 15 \(a bare number\)"):
        parse_duration(15)


@pytest.mark.parametrize(
    ("text", "fraction"), [("99.9%", 0.999), ("5%", 0.05), ("100%", 1.0), ("0%", 0.0)]
)
def test_percentages_parse(text: str, fraction: float) -> None:
    assert parse_percent(text) == pytest.approx(fraction)


@pytest.mark.parametrize("bad", ["99.9", 0.999, 99, "101%", "-1%", "%", "abc%"])
def test_bad_percentages(bad: object) -> None:
    with pytest.raises(ValueError, match="percentage"):
        parse_percent(bad)


@pytest.mark.parametrize(("text", "factor"), [("10x", 10.0), ("1.5x", 1.5)])
def test_multipliers_parse(text: str, factor: float) -> None:
    assert parse_multiplier(text) == factor


@pytest.mark.parametrize("bad", ["10", 10, "x", "0x", "-2x", "10X"])
def test_bad_multipliers(bad: object) -> None:
    with pytest.raises(ValueError, match="multiplier"):
        parse_multiplier(bad)


@given(st.integers(min_value=0, max_value=int(MAX_DURATION_S)))
def test_duration_round_trip_whole_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(float(seconds))) == pytest.approx(seconds)


@given(st.integers(min_value=1, max_value=999))
def test_duration_round_trip_milliseconds(ms: int) -> None:
    assert parse_duration(format_duration(ms / 1000)) == pytest.approx(ms / 1000)


@given(st.integers(min_value=0, max_value=100_000))
def test_percent_round_trip(basis_points: int) -> None:
    fraction = basis_points / 100_000
    assert parse_percent(format_percent(fraction)) == pytest.approx(fraction, abs=1e-6)


def test_multiplier_format() -> None:
    assert format_multiplier(10.0) == "10x"
    assert format_duration(90) == "1m30s"
    assert format_duration(0.2) == "200ms"
