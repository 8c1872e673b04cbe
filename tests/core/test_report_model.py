"""The canonical report: JSON round trip, schema, and recomputing objectives from JSON alone."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from gameday.analysis.timeline import ALERT, FAULT_FAILED, GUARDRAIL, LEDGER, MANUAL, Timeline
from gameday.reports.model import (
    SCHEMA_VERSION,
    Report,
    TargetInfo,
    build_report,
    recompute_objectives,
    redact,
    relative_timeline,
    report_json_schema,
    timeline_from_report,
)
from gameday.scenarios.model import Scenario

from .synth import T0, fault, phases, probe, timeline, traffic

SCENARIO: dict[str, Any] = {
    "apiVersion": "gameday/v1",
    "kind": "Scenario",
    "name": "quarterly-dr",
    "description": "db crash, surge and a bad canary",
    "labels": {"tier": "l3"},
    "target": {"type": "sandbox"},
    "objectives": {
        "recovery_time": "1m",
        "failover_time": "30s",
        "detection_time": "20s",
        "data_loss": {"max_writes": 2, "max_span": "3s"},
        "availability": "95%",
        "p99_latency": "200ms",
        "rollback_time": "30s",
        "blast_radius": "5%",
        "protected_success": {"min": "90%", "max_shed": "5%", "breakers_close_within": "10s"},
    },
    "traffic": {"users": 10},
    "steady_state": {
        "stable_for": "5s",
        "min_traffic_success": "80%",
        "probes": [
            {"name": "api", "type": "http", "url": "http://x/health", "every": "250ms"},
            {"name": "db", "type": "sql", "dsn": "postgresql://u:hunter2@h/db", "every": "1s"},
        ],
    },
    "evidence": [{"name": "writes", "type": "ledger", "dsn": "postgresql://h/db"}],
    "faults": [
        {"action": "crash", "service": "db-primary", "at": "0s", "duration": "25s"},
        {"action": "load-surge", "multiply": "5x", "at": "2s", "duration": "10s"},
        {"action": "gray-release", "version": "v2-faulty", "at": "3s"},
    ],
    "manual_steps": [
        {"name": "declare-incident", "deadline": "5m", "owner": "on-call"},
        {"name": "page-dba", "deadline": "10s"},
    ],
    "audit": {"scope": "payments", "controls": ["CP-4"]},
}


def drill() -> tuple[Timeline, Scenario]:
    scenario = Scenario.model_validate(SCENARIO)
    tl = timeline(start=T0 + 0.1234567)  # an awkward start exercises rounding
    s = T0 + 0.1234567
    phases(tl, baseline=s, inject=s + 10, verify=s + 70.3)
    hops = {"gateway": 0.05, "upstream": 0.04, "api": 0.03, "db": 0.01, "db_desc": "db-primary"}
    probe(
        tl,
        "api",
        0.25,
        s,
        s + 70,
        fail=[(s + 10.01, s + 21.7)],
        hops=lambda t: hops,
        served_by=lambda t: "api-a/v1",
    )
    probe(tl, "db", 1.0, s, s + 70, fail=[(s + 10.01, s + 20.3)], type_="sql", phase=0.37)
    probe(tl, "writes", 0.5, s, s + 70, role="evidence", type_="ledger")
    fault(tl, "crash-db-primary", s + 10.0037, until=s + 35.01, apply_s=0.0821)
    fault(tl, "load-surge-traffic", s + 12.002, until=s + 22.0, action="load-surge")
    fault(tl, "gray-release-api@v2-faulty", s + 13.0, action="gray-release", version="v2-faulty")
    tl.add_event(s + 4.0, ALERT, "Old", status="firing")
    tl.add_event(s + 16.4321, ALERT, "SuccessRateDrop", status="firing", severity="page")
    tl.add_event(s + 40.5, MANUAL, "declare-incident", by="alice@ops-1")
    tl.add_event(s + 41.0, GUARDRAIL, "min-availability", reason="armed check (not tripped)")
    tl.add_event(s + 42.0, FAULT_FAILED, "none", error="example")
    acked = [[i, s + 1 + i * 0.5] for i in range(120)]
    tl.add_event(s + 71.0, LEDGER, "writes", acked=acked, missing=[acked[19], acked[21]])

    def make(t: float) -> dict[str, Any]:
        bad = 3 if s + 14 < t <= s + 19 else 0
        return {
            "ok": 70 if s + 11 < t <= s + 21 else 99,
            "p99_ms": 123.456789 if t > s + 25 else 700.0,
            "served_by": {"api-a/v1": 100 - bad, **({"api-canary/v2-faulty": bad} if bad else {})},
        }

    traffic(tl, s, s + 72, make)
    traffic(tl, s, s + 72, lambda t: {"count": 20, "shed": 0}, name="pay")
    return tl, scenario


def report() -> Report:
    tl, scenario = drill()
    return build_report(
        tl,
        scenario,
        run_id="20240301-120000-quarterly-dr",
        target=TargetInfo(
            "sandbox", {"state_dir": "/tmp/s", "db_dsn": "postgresql://u:pw@h/db", "password": "x"}
        ),
        operator="alice@ops-1",
        ended=tl.clock.start + 75.5,
        scenario_path="scenarios/quarterly-dr.yaml",
        scenario_sha256="ab" * 32,
        plans={"crash-db-primary": {"fault": "crash-db-primary", "undo": {"restart": True}}},
        budget_warnings=["example warning"],
    )


def test_report_objectives_are_sensible() -> None:
    r = report()
    by = {o.name: o for o in r.objectives}
    assert list(by) == [
        "recovery_time",
        "failover_time",
        "detection_time",
        "data_loss",
        "availability",
        "p99_latency",
        "rollback_time",
        "blast_radius",
        "protected_success",
        "breakers_close_within",
        "release_outcome",
    ]
    assert by["release_outcome"].outcome == "met"  # the gray release was rolled back
    assert by["recovery_time"].measured == pytest.approx(21.75 - 10.0037, abs=1e-9)
    assert by["detection_time"].measured == pytest.approx(6.4284, abs=1e-5)
    assert by["data_loss"].measured == 2 and by["data_loss"].passed
    assert by["rollback_time"].passed
    assert r.verdict == "failed" and r.exit_code == 1
    assert r.deviations and all(":" in d for d in r.deviations)
    steps = {m.name: m for m in r.manual_steps}
    assert steps["declare-incident"].met is True and steps["declare-incident"].by == "alice@ops-1"
    assert steps["page-dba"].met is False and steps["page-dba"].done_t is None
    faults = {f.name: f for f in r.faults}
    assert faults["crash-db-primary"].apply_s == pytest.approx(0.0821)
    assert faults["crash-db-primary"].plan == {
        "fault": "crash-db-primary",
        "undo": {"restart": True},
    }
    assert faults["gray-release-api@v2-faulty"].reverted_t is None
    assert r.hops and r.guardrails[0]["name"] == "min-availability"
    assert r.duration_s == 75.5


def test_json_is_deterministic_and_round_trips() -> None:
    data = report().to_json()
    text = json.dumps(data, sort_keys=True)
    assert text == json.dumps(report().to_json(), sort_keys=True)
    loaded = json.loads(text)
    assert loaded == data
    assert Report.from_json(loaded).to_json() == data
    assert data["schema"] == SCHEMA_VERSION
    assert list(data) == sorted(data)
    # times are relative to the drill start, rounded to the microsecond
    inj = next(e for e in data["events"] if e["kind"] == "fault.injected")
    assert inj["t"] == 10.0037
    assert inj["wall"] == "2024-03-01T12:00:10.003700+00:00"
    assert data["started"] == "2024-03-01T12:00:00.000000+00:00"


def test_recompute_every_objective_from_json_alone() -> None:
    original = report()
    data = json.loads(json.dumps(original.to_json()))
    again = recompute_objectives(data)
    assert [_canon_result(r) for r in again] == data["objectives"]
    assert [r.measured for r in again] == [r.measured for r in original.objectives]


def _canon_result(r: Any) -> Any:
    from gameday.reports.model import _result_json, canon

    return canon(_result_json(r))


def test_timeline_from_report_is_the_relative_timeline() -> None:
    tl, _ = drill()
    data = json.loads(json.dumps(report().to_json()))
    rebuilt = timeline_from_report(data)
    rel = relative_timeline(tl)
    assert rebuilt.clock == rel.clock
    assert rebuilt.samples == rel.samples
    assert sorted(rebuilt.traffic, key=lambda w: (w.t_mono, w.name)) == sorted(
        rel.traffic, key=lambda w: (w.t_mono, w.name)
    )
    assert rebuilt.events == sorted(rel.events, key=lambda e: e.t)
    assert rebuilt.probes == rel.probes


def test_schema_validates_the_report() -> None:
    schema = report_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(report().to_json(), schema)
    bad = report().to_json()
    bad["verdict"] = "great"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_no_secrets_in_the_report() -> None:
    text = json.dumps(report().to_json())
    assert "hunter2" not in text and '"pw@' not in text and ":pw@" not in text
    assert redact({"url": "postgresql://u:pw@h/db", "token": "t", "n": [{"api_key": "k"}]}) == {
        "url": "postgresql://u:***@h/db",
        "token": "***",
        "n": [{"api_key": "***"}],
    }


def test_unknown_schema_version_is_refused() -> None:
    data = report().to_json()
    data["schema"] = "gameday.report/v0"
    with pytest.raises(ValueError, match="unsupported report schema"):
        Report.from_json(data)


def test_verdicts_of_aborted_and_error_drills() -> None:
    tl, scenario = drill()
    kw: dict[str, Any] = {
        "run_id": "r",
        "target": TargetInfo("sandbox"),
        "operator": "o@h",
        "ended": tl.clock.start + 80,
    }
    r = build_report(tl, scenario, aborted="availability below 50% for 30s", **kw)
    assert (r.verdict, r.exit_code) == ("aborted", 3)
    assert r.deviations[-1] == "aborted: availability below 50% for 30s"
    r = build_report(tl, scenario, error="target unreachable", **kw)
    assert (r.verdict, r.exit_code) == ("error", 4)
    assert "target unreachable" in r.reason
