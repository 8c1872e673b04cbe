"""Recovery, impact and failover by bracket: bounds as tight as the samples allow, and
verdicts that cannot pass wrongly (delayed impact, relapse, no impact, early stop)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gameday.analysis.milestones import derive_milestones, impact_started, recovery
from gameday.analysis.objectives import evaluate_objectives
from gameday.analysis.timeline import GUARDRAIL, Sample, Timeline
from gameday.reports.audit import findings
from gameday.reports.model import Report, TargetInfo, build_report, recompute_objectives
from gameday.scenarios.model import Objectives, Scenario

from .synth import T0, fault, phases, probe, timeline


def judge(tl: Timeline, stable_for: float = 5.0, **kw: object) -> dict:
    out = evaluate_objectives(tl, Objectives.model_validate(kw), stable_for=stable_for)
    return {r.name: r for r in out}


def test_bound_is_half_the_bracket_not_the_slowest_interval() -> None:
    tl = timeline()
    phases(tl, verify=T0 + 120)
    # a 5 s probe fails from 10 to 42 (truth: recovery at 42); a 0.5 s probe only 10 to 20
    probe(tl, "slow", 5.0, T0, T0 + 120, fail=[(T0 + 10, T0 + 42)])
    probe(tl, "fast", 0.5, T0, T0 + 120, fail=[(T0 + 10, T0 + 20)])
    fault(tl, "crash-db", T0 + 10, act_s=0.004, apply_s=2.5)
    ms = derive_milestones(tl, 10)
    rec = ms.recovered
    assert rec is not None
    assert rec.detail["bracket"] == [T0 + 40, T0 + 45.01]  # slow's last failure, first answer
    assert rec.bound == pytest.approx(2.505)  # half the bracket; the old bound was 5 s
    assert rec.t - rec.bound <= T0 + 42 <= rec.t + rec.bound
    r = judge(tl, 10, recovery_time="1m")["recovery_time"]
    # act_s, not apply_s, is the injection's uncertainty when the event carries it
    assert r.error == pytest.approx(2.505 + 0.004)
    assert r.measured == pytest.approx(rec.t - (T0 + 10))


def test_failed_sample_ends_when_its_error_came_back() -> None:
    tl = timeline()
    phases(tl, verify=T0 + 60)
    probe(tl, "api", 1.0, T0, T0 + 60, fail=[(T0 + 10, T0 + 30)])
    # the first failure had no answer: it timed out 0.8 s after it was sent
    i = next(i for i, s in enumerate(tl.samples["api"]) if not s.ok)
    first = tl.samples["api"][i]
    tl.samples["api"][i] = Sample("api", first.t, False, None, detail="timeout", ended=0.8)
    fault(tl, "crash-db", T0 + 9.5)
    imp = impact_started(tl, T0 + 9.5)
    assert imp is not None and imp.detail["bracket"] == [T0 + 9.5, T0 + 10.8]
    assert imp.detail["decided_by"] == "api"


def delayed(stable_for: float) -> Timeline:
    """Injected at 10; the effect starts at 15 (a lease expires) and lasts until 30."""
    tl = timeline()
    phases(tl, inject=T0 + 10, verify=T0 + 80)
    probe(tl, "api", 0.5, T0, T0 + 80, fail=[(T0 + 15, T0 + 30)])
    fault(tl, "partition-etcd", T0 + 10, apply_s=0.1)
    return tl


@pytest.mark.parametrize("stable_for", [10.0, 3.0])
def test_delayed_impact_is_measured_from_its_impact_never_recovered_before_it(
    stable_for: float,
) -> None:
    tl = delayed(stable_for)
    ms = derive_milestones(tl, stable_for)
    assert ms.impact is not None and ms.impact.detail["bracket"] == [T0 + 14.5, T0 + 15.01]
    assert ms.recovered is not None
    assert ms.recovered.detail["bracket"] == [T0 + 29.5, T0 + 30.01]
    assert ms.recovered.t > ms.impact.t
    r = judge(tl, stable_for, recovery_time="1m")["recovery_time"]
    assert r.passed and r.measured == pytest.approx(19.755)
    if stable_for == 3.0:
        # 10 → 13 was a complete stable window, then the impact came: a relapse, not a result
        assert [(x.recovered_at, x.impact_at) for x in ms.relapses] == [(T0 + 10, T0 + 15)]
        assert r.detail["relapses"][0]["impact_at"] == T0 + 15
    else:
        assert ms.relapses == ()


def test_never_recovered_after_the_last_impact_is_missed() -> None:
    tl = timeline()
    phases(tl, inject=T0 + 10, verify=T0 + 60)
    # recovered 20 → 30 (a full window), impacted again at 30 until past the end
    probe(tl, "api", 0.5, T0, T0 + 70, fail=[(T0 + 10, T0 + 20), (T0 + 30, T0 + 100)])
    fault(tl, "crash-db", T0 + 10)
    rec = recovery(tl, T0 + 10, 5, until=T0 + 60)
    assert rec.milestone is None and rec.impacted
    assert [(x.recovered_at, x.impact_at) for x in rec.relapses] == [(T0 + 20, T0 + 30)]
    r = judge(tl, 5, recovery_time="1m", failover_time="10m")
    assert r["recovery_time"].missed and r["recovery_time"].measured is None
    assert r["recovery_time"].reason.startswith("never recovered within the deadline")
    assert "recovery at +10s was followed by impact at +20s" in r["recovery_time"].reason


def test_observation_ends_at_verify() -> None:
    tl = timeline()
    phases(tl, inject=T0 + 10, verify=T0 + 33)
    probe(tl, "api", 0.5, T0, T0 + 80, fail=[(T0 + 10, T0 + 30)])
    fault(tl, "crash-db", T0 + 10)
    # passing from 30 on, but only 3 s of it before verify: no 5 s window was observed
    assert derive_milestones(tl, 5).recovered is None
    assert derive_milestones(tl, 2).recovered is not None


def test_no_impact_is_met_without_measurement() -> None:
    tl = timeline()
    phases(tl, inject=T0 + 10, verify=T0 + 60)
    probe(tl, "api", 0.5, T0, T0 + 60)
    fault(tl, "crash-db", T0 + 10, until=T0 + 30)
    ms = derive_milestones(tl, 5)
    assert not ms.impacted and ms.observed and ms.impact is None
    r = judge(tl, 5, recovery_time="1m", failover_time="30s")
    for name in ("recovery_time", "failover_time"):
        assert r[name].outcome == "met" and r[name].measured is None and r[name].error is None
        assert r[name].reason == "met — no impact observed"
        assert r[name].detail["note"] == "the fault may not have taken effect"


def test_no_observation_after_injection_is_not_judged() -> None:
    tl = timeline()
    phases(tl, inject=T0 + 10, verify=T0 + 60)
    probe(tl, "api", 0.5, T0, T0 + 9)  # the probe died before the fault
    fault(tl, "crash-db", T0 + 10)
    r = judge(tl, 5, recovery_time="1m")["recovery_time"]
    assert r.outcome == "not judged"


def stuck(verify: float, revert: float | None = None, abort: float | None = None) -> Timeline:
    """Impacted at 10, never recovering; observation ends at `verify`."""
    tl = timeline()
    phases(tl, inject=T0 + 10, verify=verify)
    probe(tl, "api", 0.5, T0, verify, fail=[(T0 + 10, T0 + 1000)])
    fault(tl, "crash-db", T0 + 10, until=revert)
    if abort is not None:
        tl.add_event(abort, GUARDRAIL, "tripped", reason="availability below 50%")
    return tl


def test_failover_not_judged_on_an_early_stop_missed_once_its_deadline_passed() -> None:
    # stopped at its 1 m recovery deadline (+65 s) before the 2 m failover deadline
    r = judge(stuck(T0 + 75), 5, recovery_time="1m", failover_time="2m")
    assert r["failover_time"].outcome == "not judged"
    assert "before the failover deadline" in r["failover_time"].reason
    assert r["recovery_time"].missed  # its own deadline did pass
    # observed past +2m + stable_for: missed
    r = judge(stuck(T0 + 140), 5, recovery_time="1m", failover_time="2m")
    assert r["failover_time"].missed
    assert r["failover_time"].reason == "never recovered within the deadline"
    # reverted at +20 s: no failover can follow; judged once +20 s + stable_for was observed
    r = judge(stuck(T0 + 75, revert=T0 + 30), 5, failover_time="2m")
    assert r["failover_time"].missed


def test_recovery_not_judged_when_aborted_before_its_deadline() -> None:
    r = judge(stuck(T0 + 30, abort=T0 + 29), 5, recovery_time="1m", failover_time="30s")
    assert r["recovery_time"].outcome == "not judged"
    assert "aborted at +19s" in r["recovery_time"].reason
    assert r["failover_time"].outcome == "not judged"
    # aborted after the deadline passed: missed
    r = judge(stuck(T0 + 80, abort=T0 + 79), 5, recovery_time="1m")
    assert r["recovery_time"].missed


SCENARIO: dict[str, Any] = {
    "apiVersion": "gameday/v1",
    "kind": "Scenario",
    "name": "no-impact",
    "target": {"type": "sandbox"},
    "objectives": {"recovery_time": "1m"},
    "steady_state": {
        "stable_for": "5s",
        "probes": [{"name": "api", "type": "http", "url": "http://x/health", "every": "500ms"}],
    },
    "faults": [{"action": "crash", "service": "db-primary", "at": "0s"}],
}


def drill_report(tl: Timeline, expect: str = "impact") -> Report:
    spec = json.loads(json.dumps(SCENARIO))
    spec["faults"][0]["expect"] = expect
    scenario = Scenario.model_validate(spec)
    return build_report(
        tl,
        scenario,
        run_id="r1",
        target=TargetInfo("sandbox", {}),
        operator="tester",
        ended=tl.clock.start + 65,
    )


def quiet_drill() -> Timeline:
    tl = timeline()
    phases(tl, inject=T0 + 10, verify=T0 + 60)
    probe(tl, "api", 0.5, T0, T0 + 60)
    fault(tl, "crash-db-primary", T0 + 10)
    return tl


def test_no_impact_is_a_finding_unless_the_fault_expects_to_be_absorbed() -> None:
    report = drill_report(quiet_drill())
    assert report.verdict == "passed"
    titles = [f["title"] for f in findings(report)]
    assert titles == [
        "no observable impact from crash-db-primary — the fault may not have taken effect"
    ]
    absorbed = drill_report(quiet_drill(), expect="absorbed")
    assert findings(absorbed) == []
    assert absorbed.objectives[0].detail["note"] == "absorbed as expected"
    # the same from the JSON alone
    data = absorbed.to_json()
    assert recompute_objectives(data) == list(absorbed.objectives)
    assert findings(Report.from_json(data)) == []


def test_relapse_is_a_finding() -> None:
    tl = timeline()
    phases(tl, inject=T0 + 10, verify=T0 + 60)
    probe(tl, "api", 0.5, T0, T0 + 60, fail=[(T0 + 10, T0 + 15), (T0 + 25, T0 + 30)])
    fault(tl, "crash-db-primary", T0 + 10)
    report = drill_report(tl)
    assert report.verdict == "passed"  # recovered after the last impact, within 1 m
    titles = [f["title"] for f in findings(report)]
    assert titles == ["recovery at +5s was followed by impact at +15s"]


def test_failure_end_time_round_trips_through_the_report() -> None:
    tl = timeline()
    phases(tl, inject=T0 + 10, verify=T0 + 60)
    probe(tl, "api", 0.5, T0, T0 + 60, fail=[(T0 + 10, T0 + 20)])
    tl.samples["api"] = [
        s if s.ok else Sample("api", s.t, False, None, detail="refused", ended=0.0031234567)
        for s in tl.samples["api"]
    ]
    fault(tl, "crash-db-primary", T0 + 10)
    report = drill_report(tl)
    data = json.loads(json.dumps(report.to_json()))
    back = Report.from_json(data)
    failing = [s for s in back.samples["api"] if not s.ok]
    assert failing and all(s.ended == 0.003123 for s in failing)
    assert recompute_objectives(data) == list(report.objectives)
    imp = next(m for m in report.milestones if m.name == "impact.started")
    assert imp.detail["bracket"] == [10.0, pytest.approx(10.003123)]
