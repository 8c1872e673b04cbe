"""The sandbox's alerting escalates a repeated alert, and the escalation objective judges it.

A real sandbox with the escalation rule shortened in its settings, gameday's own webhook
receiver, a component killed: the webhooks it receives become the timeline the objective
reads, as in a drill.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from gameday.analysis.milestones import derive_milestones
from gameday.analysis.objectives import ObjectiveResult, escalation_pending, escalation_time
from gameday.analysis.timeline import ALERT, FAULT_INJECTED, PHASE, Clock, Timeline
from gameday.runners.receiver import AlertReceiver, ReceivedAlert
from gameday.sandbox import manage
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.events import read_events
from tests.sandbox.conftest import running_sandbox

pytestmark = pytest.mark.slow

DEADLINE_S = 8.0
SHORT_RULE = {
    "alert_eval_period_s": 0.5,
    "alert_repeat_s": 0.5,
    "alert_escalate_after": 3,
    "alert_escalate_window_s": 10.0,
}


async def _kill_and_receive(state_dir: Path, client: SandboxClient) -> Timeline:
    """Kill the release controller and record every webhook until the deadline's verdict."""
    timeline = Timeline(Clock.start_now())

    def on_alert(alert: ReceivedAlert) -> None:
        labels = dict(alert.labels)
        timeline.add_event(alert.t, ALERT, alert.name, status=alert.status, labels=labels)

    receiver = AlertReceiver("escalation-test", on_alert=on_alert)
    await receiver.start()
    try:
        await asyncio.to_thread(client.set_alert_receiver, receiver.url)
        timeline.add_event(time.monotonic(), FAULT_INJECTED, "kill-release", act_s=0.01)
        await asyncio.to_thread(manage.kill_component, state_dir, "release")
        while escalation_pending(timeline, DEADLINE_S, time.monotonic()):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)  # observed past the deadline (or the escalation)
        timeline.add_event(time.monotonic(), PHASE, "verify")
        await asyncio.to_thread(client.set_alert_receiver, None)
    finally:
        await receiver.stop()
    return timeline


def _judge(escalation: bool) -> tuple[ObjectiveResult, Timeline, list[str]]:
    with running_sandbox(alert_escalation_enabled=escalation, **SHORT_RULE) as state:
        state_dir = Path(state.state_dir)
        with SandboxClient(state) as client:
            timeline = asyncio.run(_kill_and_receive(state_dir, client))
        events = [e["event"] for e in read_events(state_dir)]
    ms = derive_milestones(timeline, stable_for=1.0)
    return escalation_time(timeline, ms, DEADLINE_S), timeline, events


def _names(timeline: Timeline) -> list[str]:
    return [e.name for e in timeline.events_of(ALERT) if e.detail["status"] == "firing"]


def test_repeated_alerts_escalate_with_their_own_webhook_and_the_objective_is_met() -> None:
    result, timeline, events = _judge(escalation=True)
    names = _names(timeline)
    assert "AlertEscalated" in names, names
    # the source fired the 3 times the shortened rule counts before its escalation came
    assert names[: names.index("AlertEscalated")].count("ComponentDown") >= 3
    assert result.outcome == "met", result.reason
    assert result.measured is not None and 1.0 <= result.measured <= DEADLINE_S
    assert result.detail["escalated_from"] == "ComponentDown"
    assert "alert_escalated" in events


def test_with_the_rule_off_the_same_alerts_never_escalate_and_the_objective_is_missed() -> None:
    result, timeline, events = _judge(escalation=False)
    names = _names(timeline)
    assert names.count("ComponentDown") >= 3 and "AlertEscalated" not in names, names
    assert result.outcome == "missed", result.reason
    assert result.reason.startswith("no escalated alert within the deadline")
    assert "alert_escalated" not in events
