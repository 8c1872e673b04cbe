"""Unit tests: control-file lines, the shape's target, surge schedules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gameday.traffic.control import (
    ControlEntry,
    ControlLineError,
    ControlState,
    SurgeStep,
    encode_control,
    parse_control_line,
    surge_schedule,
)


def test_surge_schedule_ramp_hold_return() -> None:
    assert surge_schedule(10, 3.0, ramp_s=5.0, hold_s=30.0) == [
        SurgeStep(0.0, 30, 4.0),
        SurgeStep(35.0, 10, 4.0),
    ]


def test_surge_schedule_instant_and_drop() -> None:
    assert surge_schedule(10, 2.0, ramp_s=0.0, hold_s=5.0) == [
        SurgeStep(0.0, 20, 10.0),
        SurgeStep(5.0, 10, 10.0),
    ]
    assert surge_schedule(10, 0.5, ramp_s=2.0, hold_s=1.0)[0] == SurgeStep(0.0, 5, 2.5)
    assert surge_schedule(10, 1.0, ramp_s=2.0, hold_s=1.0)[0] == SurgeStep(0.0, 10, 1.0)


@pytest.mark.parametrize(
    ("base", "mult", "ramp", "hold"),
    [(-1, 2.0, 1.0, 1.0), (1, -2.0, 1.0, 1.0), (1, float("inf"), 1.0, 1.0), (1, 2.0, -1.0, 1.0)],
)
def test_surge_schedule_rejects(base: int, mult: float, ramp: float, hold: float) -> None:
    with pytest.raises(ValueError):
        surge_schedule(base, mult, ramp, hold)


@given(
    st.integers(0, 10_000),
    st.floats(0, 100, allow_nan=False),
    st.floats(0, 600, allow_nan=False),
    st.floats(0, 600, allow_nan=False),
)
def test_surge_schedule_properties(base: int, mult: float, ramp: float, hold: float) -> None:
    up, back = surge_schedule(base, mult, ramp, hold)
    assert up.offset_s == 0.0 and back.users == base
    assert back.offset_s == pytest.approx(ramp + hold)
    assert up.spawn_rate > 0 and back.spawn_rate > 0
    if ramp > 0 and up.users != base:
        # Locust ramps at spawn_rate users/s: the change takes ramp seconds
        assert abs(up.users - base) / up.spawn_rate == pytest.approx(ramp)


def test_control_round_trip() -> None:
    for entry in (
        ControlEntry(users=30, spawn_rate=4.0),
        ControlEntry(users=0, spawn_rate=1.5, at=123.25),
        ControlEntry(stop=True),
    ):
        assert parse_control_line(encode_control(entry)) == entry


@pytest.mark.parametrize(
    "line",
    [
        "nope",
        "[]",
        '{"users": -1, "spawn_rate": 1}',
        '{"users": 1.5, "spawn_rate": 1}',
        '{"users": true, "spawn_rate": 1}',
        '{"users": 1, "spawn_rate": 0}',
        '{"users": 1}',
        '{"users": 1, "spawn_rate": 1, "at": "soon"}',
    ],
)
def test_control_line_rejects(line: str) -> None:
    with pytest.raises(ControlLineError):
        parse_control_line(line)


def test_control_state_follows_entries_in_time() -> None:
    state = ControlState(users=10, spawn_rate=5.0)
    assert state.target(0.0) == (10, 5.0)
    state.feed(
        [
            ControlEntry(users=30, spawn_rate=4.0, at=105.0),
            ControlEntry(users=10, spawn_rate=4.0, at=140.0),
        ],
        now=100.0,
    )
    assert state.target(104.9) == (10, 5.0)
    assert state.target(105.0) == (30, 4.0)
    assert state.target(139.0) == (30, 4.0)
    assert state.target(140.0) == (10, 4.0)
    # an entry without `at` applies from when it was read
    state.feed([ControlEntry(users=2, spawn_rate=1.0)], now=150.0)
    assert state.target(150.0) == (2, 1.0)
    assert not state.stop_requested(150.0)
    state.feed([ControlEntry(stop=True)], now=151.0)
    assert state.stop_requested(151.0)
    assert state.target(151.0) == (2, 1.0)
