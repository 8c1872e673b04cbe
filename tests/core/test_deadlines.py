"""Day or night deadlines: chosen by the wall time the drill started, in the window's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jsonschema
import pytest

from gameday.analysis.timeline import MANUAL, Clock, Timeline
from gameday.reports.html import render_html
from gameday.reports.model import TargetInfo, build_report, report_json_schema
from gameday.runners.manual import ManualSteps
from gameday.scenarios.deadlines import choose_deadline
from gameday.scenarios.model import DayNightDeadline, NightWindow, Scenario

from .synth import T0, fault, phases, probe

SHANGHAI = NightWindow.model_validate({"from": "22:00", "to": "07:00", "tz": "Asia/Shanghai"})
TIERS = DayNightDeadline.model_validate({"day": "10m", "night": "15m"})


def utc(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, 14, hour, minute, tzinfo=UTC)


def test_a_drill_started_at_night_in_shanghai_gets_the_night_deadline_and_says_why() -> None:
    chosen = choose_deadline(TIERS, utc(15, 40), SHANGHAI)  # 23:40 in Shanghai (UTC+8)
    assert (chosen.seconds, chosen.tier) == (900.0, "night")
    assert chosen.why == ("drill started 23:40 Asia/Shanghai, in the night window 22:00–07:00")
    day = choose_deadline(TIERS, utc(4, 0), SHANGHAI)  # 12:00 in Shanghai
    assert (day.seconds, day.tier) == (600.0, "day")
    assert day.why == "drill started 12:00 Asia/Shanghai, outside the night window 22:00–07:00"


@pytest.mark.parametrize(
    ("utc_time", "tier"),
    [
        ((13, 59), "day"),  # 21:59 local
        ((14, 0), "night"),  # 22:00 local: the window starts
        ((16, 30), "night"),  # 00:30 local: past midnight, still inside
        ((22, 59), "night"),  # 06:59 local
        ((23, 0), "day"),  # 07:00 local: the window's end is exclusive
    ],
)
def test_a_window_wrapping_midnight_holds_from_its_start_to_just_before_its_end(
    utc_time: tuple[int, int], tier: str
) -> None:
    assert choose_deadline(TIERS, utc(*utc_time), SHANGHAI).tier == tier


def test_the_same_instant_is_judged_in_the_windows_own_time_zone() -> None:
    instant = utc(15, 40)  # night in Shanghai, afternoon in UTC and in New York
    assert choose_deadline(TIERS, instant, SHANGHAI).tier == "night"
    assert choose_deadline(TIERS, instant, None).tier == "day"  # default: 22:00–07:00 UTC
    new_york = NightWindow.model_validate(
        {"from": "09:00", "to": "12:00", "tz": "America/New_York"}
    )
    chosen = choose_deadline(TIERS, instant, new_york)  # 11:40 EDT (UTC-4 after 9 March)
    assert chosen.tier == "night" and "11:40 America/New_York" in chosen.why
    # a start written with another offset is the same instant
    plus8 = instant.astimezone(timezone(timedelta(hours=8)))
    assert choose_deadline(TIERS, plus8, SHANGHAI) == choose_deadline(TIERS, instant, SHANGHAI)


def test_a_plain_deadline_holds_around_the_clock() -> None:
    chosen = choose_deadline(300.0, utc(15, 40), SHANGHAI)
    assert (chosen.seconds, chosen.tier, chosen.why) == (300.0, None, "")


def test_the_running_drill_waits_for_the_deadline_of_its_start_time() -> None:
    scenario = _scenario()
    steps = ManualSteps(scenario.manual_steps, utc(15, 40), scenario.night)
    [state] = steps.pending()
    assert state.deadline_s == 900.0
    assert steps.waiting_for(T0 + 800, T0, include_optional=True)  # 10m passed, 15m not yet
    day = ManualSteps(scenario.manual_steps, utc(4, 0), scenario.night)
    assert not day.waiting_for(T0 + 800, T0, include_optional=True)


def _scenario() -> Scenario:
    return Scenario.model_validate(
        {
            "apiVersion": "gameday/v1",
            "kind": "Scenario",
            "name": "night-shift",
            "target": {"type": "sandbox"},
            "objectives": {"recovery_time": "1m"},
            "steady_state": {
                "stable_for": "5s",
                "probes": [{"name": "api", "type": "http", "url": "http://x/", "every": "1s"}],
            },
            "faults": [{"action": "crash", "service": "db-primary", "at": "0s"}],
            "manual_steps": [
                {"name": "first-response", "deadline": {"day": "10m", "night": "15m"}}
            ],
            "night": {"from": "22:00", "to": "07:00", "tz": "Asia/Shanghai"},
        }
    )


def _report(started: datetime) -> Any:
    """A drill whose step is acknowledged 12 minutes after the fault, started at `started`."""
    tl = Timeline(Clock(T0, started))
    phases(tl, baseline=T0, inject=T0 + 10, verify=T0 + 1000)
    probe(tl, "api", 1.0, T0, T0 + 1000, fail=[(T0 + 10, T0 + 20)])
    fault(tl, "crash-db-primary", T0 + 10)
    tl.add_event(T0 + 10 + 720, MANUAL, "first-response", by="alice")
    return build_report(
        tl,
        _scenario(),
        run_id="night-shift-1",
        target=TargetInfo("sandbox", {}),
        operator="alice",
        ended=T0 + 1001,
    )


def test_the_report_judges_a_step_by_the_deadline_in_force_and_states_which_and_why() -> None:
    night = _report(utc(15, 40))
    [step] = night.manual_steps
    assert (step.deadline_s, step.deadline_tier, step.met) == (900.0, "night", True)
    assert step.deadline_why == "drill started 23:40 Asia/Shanghai, in the night window 22:00–07:00"
    data = night.to_json()
    assert data["manual_steps"][0]["deadline_tier"] == "night"
    jsonschema.validate(data, report_json_schema())
    assert "night deadline: drill started 23:40 Asia/Shanghai" in render_html(night)
    [day] = _report(utc(4, 0)).manual_steps  # noon in Shanghai: 12 minutes is too late
    assert (day.deadline_s, day.deadline_tier, day.met) == (600.0, "day", False)


def test_a_required_step_past_its_deadline_fails_the_drill_an_optional_one_does_not() -> None:
    day = _report(utc(4, 0))  # acknowledged at 12 minutes, the day deadline is 10
    assert day.verdict.value == "failed" and day.exit_code == 1
    assert "manual step missed: first-response" in day.reason
    assert "manual step first-response: missed its deadline" in day.deviations
    assert _report(utc(15, 40)).verdict.value == "passed"  # at night 15 minutes: met
    [step] = _scenario().manual_steps
    relaxed = _scenario().model_copy(
        update={"manual_steps": [step.model_copy(update={"optional": True})]}
    )
    tl = Timeline(Clock(T0, utc(4, 0)))
    phases(tl, baseline=T0, inject=T0 + 10, verify=T0 + 1000)
    probe(tl, "api", 1.0, T0, T0 + 1000, fail=[(T0 + 10, T0 + 20)])
    fault(tl, "crash-db-primary", T0 + 10)
    report = build_report(
        tl, relaxed, run_id="r", target=TargetInfo("sandbox", {}), operator="a", ended=T0 + 1001
    )
    assert report.verdict.value == "passed"
