"""The library drills pass end to end against the sandbox, and fail when they should."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LIBRARY
from tests.e2e.conftest import DrillRunner, library, variant

pytestmark = pytest.mark.slow


def objective(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [o for o in report["objectives"] if o["name"] == name]
    assert found, f"objective {name} not in report: {[o['name'] for o in report['objectives']]}"
    return found[0]


@pytest.mark.parametrize(
    "name",
    # latency-hop runs in its own test below, which also checks the slow hop it names
    [
        "db-primary-crash",
        "site-outage",
        "rate-limit-surge",
        "gray-release-rollback",
        "alert-escalation",
    ],
)
def test_library_drill_passes(drills: DrillRunner, name: str) -> None:
    scenario = drills.write(library(name))
    result = drills.run(scenario)
    report = drills.report()
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["verdict"] == "passed"
    assert all(o["passed"] for o in report["objectives"])
    assert "Traceback" not in result.stdout + result.stderr
    # the drill started the sandbox itself and stopped it again
    assert (
        not (drills.state_dir / "state.json").exists() or drills.sandbox("status").returncode != 0
    )


def test_db_crash_without_failover_fails_on_recovery(drills: DrillRunner) -> None:
    data = variant("db-primary-crash")
    data["target"]["settings"] = {"failover": False}
    data["objectives"] = {"recovery_time": "8s", "failover_time": "8s", "data_loss": 0}
    result = drills.run(drills.write(data))
    report = drills.report()
    assert result.returncode == 1, result.stdout
    assert report["verdict"] == "failed"
    recovery = objective(report, "recovery_time")
    assert not recovery["passed"] and "recover" in recovery["reason"]
    assert "recovery_time" in result.stdout
    # recovery failed: the crash is reverted before the read-back, so the loss is known
    assert "reverting faults before the read-back" in result.stdout
    loss = objective(report, "data_loss")
    assert loss["outcome"] == "met" and loss["measured"] == 0, loss


def test_alert_escalation_with_the_rule_off_is_missed_once_its_deadline_passed(
    drills: DrillRunner,
) -> None:
    # the same drill as the library's, which escalates: the drill now observes until the
    # deadline, and the same alerts, firing again and again, never escalate
    data = variant("alert-escalation")
    data["target"]["settings"]["escalation"] = False
    data["objectives"]["escalation_time"] = "12s"
    result = drills.run(drills.write(data))
    report = drills.report()
    assert result.returncode == 1, result.stdout + result.stderr
    escalation = objective(report, "escalation_time")
    assert escalation["outcome"] == "missed", escalation
    assert escalation["reason"].startswith("no escalated alert within the deadline"), escalation
    assert "ComponentDown ×" in escalation["reason"]
    assert objective(report, "recovery_time")["outcome"] == "met"


def test_gray_release_of_a_healthy_canary_reports_no_rollback(drills: DrillRunner) -> None:
    data = variant("gray-release-rollback")
    data["faults"][0]["version"] = "v2"
    result = drills.run(drills.write(data))
    rollback = objective(drills.report(), "rollback_time")
    assert result.returncode == 1
    assert not rollback["passed"] and "no rollback" in rollback["reason"]


@pytest.mark.parametrize(
    ("version", "code"), [("v2-faulty", 1), ("v2", 0)], ids=["rolled-back", "promoted"]
)
def test_a_release_expected_to_be_promoted_is_judged_on_its_outcome(
    drills: DrillRunner, version: str, code: int
) -> None:
    # the CI gate before a gray release: the version must reach everyone and stay; only a
    # recovery objective is set, the outcome is judged anyway
    data = variant("gray-release-rollback")
    data["faults"][0].update(version=version, expect_rollback=False)
    data["objectives"] = {"recovery_time": "5m"}
    result = drills.run(drills.write(data))
    report = drills.report()
    outcome = objective(report, "release_outcome")
    assert result.returncode == code, result.stdout[-3000:]
    if code:
        assert outcome["outcome"] == "missed" and "rolled back" in outcome["reason"], outcome
    else:
        assert outcome["outcome"] == "met", outcome
        assert outcome["detail"]["max_canary_share"] >= 0.99


def test_lagging_standby_loses_acknowledged_writes(drills: DrillRunner) -> None:
    data = variant("db-primary-crash")
    data["target"]["settings"] = {"replication": "async"}
    data["faults"] = [
        {
            "action": "latency",
            "link": "db-standby->db-primary",
            "delay": "3s",
            "at": "0s",
            "name": "lag",
        },
        {"action": "crash", "service": "db-primary", "at": "4s"},
    ]
    data["objectives"] = {"recovery_time": "2m", "data_loss": 0}
    result = drills.run(drills.write(data))
    report = drills.report()
    loss = objective(report, "data_loss")
    why = f"{report['verdict']}: {report['reason']}; {loss}\n{result.stdout[-3000:]}"
    assert loss["outcome"] == "missed" and (loss["measured"] or 0) > 0, why


def test_every_library_file_is_a_real_drill() -> None:
    assert len(list(Path(LIBRARY).glob("*.yaml"))) >= 6


def test_latency_hop_names_the_slow_link(drills: DrillRunner) -> None:
    result = drills.run(drills.write(library("latency-hop")))
    assert result.returncode == 0, result.stdout
    assert drills.report()["verdict"] == "passed"
    crossed = [h["hop"] for h in drills.report()["hops"] if h["crossed_in"]]
    assert crossed == ["api-a->db-primary"]
    assert "slow hop: api-a->db-primary" in result.stdout
