"""Timing budget: objectives that no system could meet are called out before the drill."""

from __future__ import annotations

from pathlib import Path

from gameday.analysis.budget import TargetTimings, budget_warnings
from gameday.scenarios.loader import load_scenario
from tests.conftest import LIBRARY


def scenario_with(tmp_path: Path, objectives: str, extra: str = "") -> object:
    text = (LIBRARY / "db-primary-crash.yaml").read_text(encoding="utf-8")
    head, _, rest = text.partition("objectives:\n")
    rest = rest[rest.index("traffic:") :]
    path = tmp_path / "s.yaml"
    path.write_text(head + "objectives:\n" + objectives + rest + extra, encoding="utf-8")
    return load_scenario(path)


def test_library_scenarios_have_no_budget_warnings_on_default_timings(tmp_path: Path) -> None:
    scenario = load_scenario(LIBRARY / "db-primary-crash.yaml")
    floors = TargetTimings(failover_floor_s=2.0, rollback_floor_s=0.5, detection_floor_s=1.0)
    assert budget_warnings(scenario, floors) == []


def test_objective_below_the_targets_floor_is_named_with_the_reason(tmp_path: Path) -> None:
    scenario = scenario_with(tmp_path, "  failover_time: 5s\n")
    floors = TargetTimings(failover_floor_s=11.0, explanation={"failover_time": "2s × 5 checks"})
    warnings = budget_warnings(scenario, floors)  # type: ignore[arg-type]
    assert any(
        "failover_time 5s cannot be met" in w and "11s" in w and "2s × 5 checks" in w
        for w in warnings
    )


def test_deadline_beyond_max_duration_is_called_out(tmp_path: Path) -> None:
    scenario = scenario_with(tmp_path, "  recovery_time: 30m\n")
    warnings = budget_warnings(scenario)  # type: ignore[arg-type]
    assert any("max_duration" in w for w in warnings)


def test_sampling_coarser_than_the_objective_cannot_resolve_it(tmp_path: Path) -> None:
    scenario = scenario_with(tmp_path, "  recovery_time: 200ms\n")
    assert any("cannot resolve" in w for w in budget_warnings(scenario))  # type: ignore[arg-type]
