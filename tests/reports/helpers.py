"""Reports for the rendering tests: a real drill's report.json, and synthetic ones from the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gameday.analysis.timeline import ALERT, MANUAL
from gameday.reports.model import Report, TargetInfo, build_report
from gameday.runners.journal import Journal
from gameday.scenarios.model import Scenario
from gameday.targets.base import FaultPlan
from tests.core.synth import T0, fault, phases, probe, timeline, traffic

FIXTURES = Path(__file__).parent / "fixtures"
REAL = FIXTURES / "db-primary-crash.json"  # a real sandbox drill, recorded by `gameday run --ci`


def real_report() -> Report:
    return Report.from_json(json.loads(REAL.read_text(encoding="utf-8")))


def scenario(**overrides: Any) -> Scenario:
    data: dict[str, Any] = {
        "apiVersion": "gameday/v1",
        "kind": "Scenario",
        "name": "site-outage",
        "description": "Cut site A <b>off</b>; traffic must move to site B.",
        "target": {"type": "sandbox"},
        "objectives": {"recovery_time": "20s", "detection_time": "5s", "availability": "99%"},
        "traffic": {"users": 10},
        "steady_state": {
            "stable_for": "5s",
            "probes": [{"name": "pay", "type": "http", "url": "http://x/pay", "every": "1s"}],
        },
        "evidence": [{"name": "alerts", "type": "alert"}],
        "faults": [{"action": "network-cut", "service": "site-a", "at": "0s", "duration": "30s"}],
        "manual_steps": [
            {"name": "declare-incident", "deadline": "5m", "owner": "on-call", "optional": True}
        ],
        "audit": {
            "drill_type": "functional",
            "scope": "payment path, both sites",
            "exclusions": ["card network", "batch settlement"],
            "participants": [{"name": "Ana Silva", "role": "incident commander"}],
            "approver": "Head of SRE",
            "controls": ["NIST 800-53 CP-4", "SOC 2 A1.3"],
            "next_drill": "2025-06-01",
        },
    }
    data.update(overrides)
    return Scenario.model_validate(data)


def synthetic_report(
    hours: float = 0.0, fail_until: float = 70.0, every: float = 1.0, probes: int = 1
) -> Report:
    """A drill that fails recovery (site down 10–70 s); `hours` stretches it to a long drill."""
    end = max(120.0, hours * 3600)
    tl = timeline()
    phases(tl, baseline=T0, inject=T0 + 9.0, verify=T0 + end - 1)
    for k in range(probes):
        probe(
            tl,
            "pay" if k == 0 else f"pay{k}",
            every,
            T0,
            T0 + end,
            fail=[(T0 + 10, T0 + fail_until)],
        )
    probe(tl, "alerts", every, T0, T0 + end, role="evidence", type_="alert")
    traffic(
        tl,
        T0,
        T0 + end,
        lambda t: {"ok": 50, "p99_ms": 900.0} if T0 + 10 <= t < T0 + fail_until else {},
    )
    fault(tl, "network-cut-site-a", T0 + 10, T0 + 40)
    tl.add_event(
        T0 + 12.5, ALERT, "SuccessRateDrop", status="firing", labels={"severity": "critical"}
    )
    tl.add_event(T0 + 30, MANUAL, "declare-incident", by="ana")
    return build_report(
        tl,
        scenario(),
        run_id="site-outage-20240301T120000Z-beef",
        target=TargetInfo("sandbox", {"dsn": "postgresql://app:hunter2@db/pay"}),
        operator="ana@laptop",
        ended=T0 + end,
        scenario_path=None,
        scenario_sha256="ab" * 32,
    )


def write_journal(run_dir: Path, index_dir: Path) -> None:
    """A finished drill's journal.jsonl, written by the real Journal: one fault applied and reverted."""
    with Journal.open(run_dir, run_id="db-primary-crash-1", index_dir=index_dir, hold=False) as j:
        j.drill_started("db-primary-crash", "sandbox", {"state_dir": "/tmp/sandbox"})
        plan = FaultPlan("crash-db-primary", "crash", "sandbox", {}, {"restart": "db-primary"})
        plan_id = j.fault_planned(plan)
        j.fault_applied(plan_id, {"pid": 4242})
        j.fault_reverted(plan_id, {"restarted": True})
        j.record("drill.finished", unreverted=[])
