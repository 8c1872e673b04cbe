from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gameday.scenarios.units import (
    DURATION_PATTERN,
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
        # as people write them: a space before the unit or between parts, fractions
        ("250ms", 0.25),
        ("250 ms", 0.25),
        ("1.5s", 1.5),
        ("2m30s", 150.0),
        ("2m 30s", 150.0),
        ("1h 30m", 5400.0),
        ("1 h 30 m", 5400.0),
        ("0.5s", 0.5),
        (".5s", 0.5),
        ("1m30.25s", 90.25),
        ("1.5ms", 0.0015),
    ],
)
def test_durations_parse(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_what_people_write_matches_the_schema_pattern() -> None:
    for text in ("250ms", "250 ms", "1.5s", "2m30s", "1h 30m", " 5s ", ".5s", "0", "7d"):
        assert re.match(DURATION_PATTERN, text), text


@pytest.mark.parametrize("bad", ["", "s", "5.s", "one minute", True, None, [], "nan", "inf"])
def test_bad_durations_explain_the_format(bad: object) -> None:
    with pytest.raises(ValueError, match="expected a duration such as '250ms', '30s'"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        # ambiguous: which unit did the person mean?
        ("15", "a bare number could mean anything; add a unit"),
        ("1m30", "30 has no unit"),
        ("5s5", "5 has no unit"),
        ("5M", "'M' is not a unit; write 5m"),  # minutes or months?
        ("5S", "'S' is not a unit; write 5s"),
        ("1.5m30s", r"only the last part may have a fraction \(1.5m is not\)"),
        ("30s1m", "units go from the largest to the smallest, each once"),
        ("1m1m", "units go from the largest to the smallest, each once"),
        # spelt out, or garbage
        ("5sec", "'sec' is not a unit; write 5s"),
        ("10 minutes", "'minutes' is not a unit; write 10m"),
        ("2hrs", "'hrs' is not a unit; write 2h"),
        ("5us", "'us' is not a unit"),
        ("1,5s", "',' is not a unit; write fractions with a dot"),
        ("-5s", "a duration cannot be negative"),
        ("1m -5s", "a duration cannot be negative"),
        ("5s!", "'s!' is not a unit"),
    ],
)
def test_a_bad_duration_says_what_is_wrong(bad: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"found {re.escape(repr(bad))}: {reason}"):
        parse_duration(bad)
    assert not re.match(DURATION_PATTERN, bad) or reason.startswith(("only", "units"))


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


@given(st.floats(min_value=0, max_value=MAX_DURATION_S, allow_nan=False))
def test_duration_round_trip_any_seconds(seconds: float) -> None:
    # exact to the microsecond below a second, to the millisecond above
    text = format_duration(seconds)
    assert re.match(DURATION_PATTERN, text), text
    assert parse_duration(text) == pytest.approx(seconds, abs=0.0005 if seconds >= 1 else 5e-7)


_UNITS = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1), ("ms", 0.001)]


@given(
    st.lists(st.integers(min_value=0, max_value=99), min_size=5, max_size=5),
    st.lists(st.sampled_from(["", " "]), min_size=10, max_size=10),
    st.integers(min_value=0, max_value=999),
)
def test_durations_in_parts_with_spaces_and_a_fraction(
    counts: list[int], spaces: list[str], fraction: int
) -> None:
    # `1d 2h3m 4.5s`: any of the units in order, spaces or not, a fraction on the last part
    chosen = [(n, unit, size) for n, (unit, size) in zip(counts, _UNITS, strict=True) if n]
    if not chosen:
        return
    text, seconds = "", 0.0
    for i, (n, unit, size) in enumerate(chosen):
        number = f"{n}.{fraction:03d}" if i == len(chosen) - 1 else str(n)
        text += f"{spaces[2 * i]}{number}{spaces[2 * i + 1]}{unit}"
        seconds += float(number) * size
    if seconds > MAX_DURATION_S:
        with pytest.raises(ValueError, match="at most 7d"):
            parse_duration(text)
        return
    assert re.match(DURATION_PATTERN, text), text
    assert parse_duration(text) == pytest.approx(seconds)


def test_durations_format_as_people_write_them() -> None:
    assert format_duration(150) == "2m30s"
    assert format_duration(1.5) == "1.5s"
    assert format_duration(0.25) == "250ms"
    assert format_duration(90.25) == "1m30.25s"
    assert format_duration(59.9999) == "1m"  # rounded to the millisecond, never `60s`
    assert format_duration(0) == "0s"


def test_multiplier_format() -> None:
    assert format_multiplier(10.0) == "10x"
    assert format_duration(90) == "1m30s"
    assert format_duration(0.2) == "200ms"
