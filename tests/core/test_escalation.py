"""The escalation objective on synthetic timelines: met, late, missed, not judged."""

from __future__ import annotations

import pytest

from gameday.analysis.objectives import ObjectiveResult, escalation_pending, evaluate_objectives
from gameday.analysis.timeline import ALERT, Timeline
from gameday.scenarios.model import Objectives

from .synth import T0, fault, phases, probe, timeline

INJ = T0 + 10


def drill(verify: float = T0 + 120) -> Timeline:
    """A fault at +10 s, an outage of 5 s, observation until `verify`."""
    tl = timeline()
    phases(tl, baseline=T0, inject=INJ, verify=verify)
    probe(tl, "api", 0.25, T0, verify, fail=[(INJ, INJ + 5)])
    fault(tl, "crash-db", INJ, apply_s=0.1)
    return tl


def alert(tl: Timeline, t: float, escalated: bool = False, status: str = "firing") -> None:
    labels = {"alertname": "ComponentDown", "service": "db-primary"}
    name = "ComponentDown"
    if escalated:
        name = "AlertEscalated"
        labels = {
            **labels,
            "alertname": name,
            "escalated": "true",
            "escalated_from": "ComponentDown",
        }
    tl.add_event(t, ALERT, name, status=status, labels=labels)


def judged(tl: Timeline, bound: str = "1m") -> ObjectiveResult:
    objectives = Objectives.model_validate({"escalation_time": bound})
    [result] = [
        r
        for r in evaluate_objectives(tl, objectives, stable_for=5.0)
        if r.name == "escalation_time"
    ]
    return result


def test_an_escalation_within_the_deadline_is_met_with_the_receipt_and_act_bound() -> None:
    tl = drill()
    for k in range(3):
        alert(tl, INJ + 2 + 2 * k)
    alert(tl, T0 - 5, escalated=True)  # before the fault: not this drill's escalation
    alert(tl, INJ + 6.5, escalated=True)
    r = judged(tl)
    assert r.outcome == "met" and r.measured == pytest.approx(6.5)
    assert r.error == pytest.approx(0.01 + 0.1)  # receipt ±10 ms + the injection's act
    assert r.detail["escalated_from"] == "ComponentDown"
    assert r.reason.startswith("escalated after 6.5s, within")


def test_a_late_escalation_is_missed_with_its_time() -> None:
    tl = drill()
    alert(tl, INJ + 70, escalated=True)
    r = judged(tl)
    assert r.outcome == "missed" and r.measured == pytest.approx(70.0)


def test_no_escalation_once_the_deadline_passed_is_missed_naming_what_fired() -> None:
    tl = drill()
    for k in range(12):
        alert(tl, INJ + 2 + k)
    alert(tl, INJ + 20, escalated=True, status="resolved")  # a resolution is no escalation
    r = judged(tl)
    assert r.outcome == "missed" and r.measured is None
    assert r.reason == "no escalated alert within the deadline (alerts fired: ComponentDown ×12)"


def test_no_escalation_before_the_drill_ended_is_not_judged() -> None:
    tl = drill(verify=INJ + 30)
    alert(tl, INJ + 2)
    r = judged(tl)
    assert r.outcome == "not judged"
    assert "stopped at +30s, before the escalation deadline (+1m)" in r.reason


def test_without_a_fault_there_is_nothing_to_escalate() -> None:
    tl = timeline()
    phases(tl, baseline=T0, verify=T0 + 60)
    probe(tl, "api", 0.25, T0, T0 + 60)
    assert judged(tl).outcome == "missed"


def test_the_drill_waits_for_an_escalation_only_until_its_deadline() -> None:
    tl = drill()
    assert not escalation_pending(tl, None, INJ + 1)  # no objective: nothing to wait for
    assert escalation_pending(tl, 60.0, INJ + 1)
    assert not escalation_pending(tl, 60.0, INJ + 60)  # the deadline passed
    alert(tl, INJ + 5, escalated=True)
    assert not escalation_pending(tl, 60.0, INJ + 6)  # it came
    assert not escalation_pending(timeline(), 60.0, T0 + 1)  # nothing injected yet
