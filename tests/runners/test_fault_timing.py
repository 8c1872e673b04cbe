"""The injection is timed when the driver acted, not when it finished confirming."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from gameday.analysis.timeline import FAULT_INJECTED, Clock, Timeline
from gameday.runners.console import PlainView
from gameday.runners.faults import FaultRunner
from gameday.runners.journal import Journal
from gameday.scenarios.model import CrashFault
from gameday.targets.base import FaultAction, FaultPlan, Target, acting

CONFIRM_S = 0.4


class SlowConfirm(FaultAction["Struck"]):
    """Acts in a few ms, then spends CONFIRM_S checking the effect (as waiting for a pid to die)."""

    def plan(self, driver: Struck, fault: CrashFault) -> FaultPlan:
        return FaultPlan(fault.label(), "crash", "struck", {}, {"kind": "none"})

    def apply(self, driver: Struck, plan: FaultPlan) -> Mapping[str, Any]:
        time.sleep(0.05)  # resolving what to act on
        if driver.stamp:
            with acting():
                driver.struck_at = time.monotonic()
        else:
            driver.struck_at = time.monotonic()
        time.sleep(CONFIRM_S)
        return {}

    def revert(self, driver: Struck, plan: FaultPlan) -> Mapping[str, Any]:
        return {}


class Struck(Target):
    name: ClassVar[str] = "struck"

    def __init__(self, stamp: bool) -> None:
        self.stamp = stamp
        self.struck_at = 0.0


Struck.actions = {"crash": SlowConfirm()}


def inject(tmp_path: Path, stamp: bool) -> tuple[Struck, dict[str, Any], float]:
    driver = Struck(stamp)
    timeline = Timeline(Clock.start_now())
    journal = Journal.open(tmp_path / ("stamped" if stamp else "plain"), run_id="r")
    runner = FaultRunner(
        driver, driver, journal, timeline, timeline.clock, PlainView(), lambda t: None
    )
    fault = CrashFault(action="crash", service="db")
    asyncio.run(runner.inject(fault))
    journal.close(clean=True)
    event = timeline.first(FAULT_INJECTED)
    assert event is not None
    return driver, {"t": event.t, **event.detail}, runner.first_injected or 0.0


def test_injection_is_timed_when_the_driver_acted(tmp_path: Path) -> None:
    driver, event, first = inject(tmp_path, stamp=True)
    assert abs(event["t"] - driver.struck_at) < 0.005
    assert event["act_s"] < 0.005
    assert event["apply_s"] >= CONFIRM_S
    assert event["confirmed_at"] - event["t"] >= CONFIRM_S - 0.01
    assert first == event["t"]


def test_without_a_stamp_the_whole_call_brackets_the_injection(tmp_path: Path) -> None:
    # negative control: a driver that does not say when it acted is bounded by its whole call
    driver, event, _ = inject(tmp_path, stamp=False)
    assert event["act_s"] >= (CONFIRM_S + 0.05) / 2 - 0.01
    assert abs(event["t"] - driver.struck_at) <= event["act_s"]
