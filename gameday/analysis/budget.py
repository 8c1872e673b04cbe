"""Timing budget: warn when an objective cannot be met however well the system behaves.

Pure arithmetic over the scenario and the target's own timings (health-check period ×
failure threshold before a failover can even start, rollout interval × steps before a
rollback, ...). `plan` and preflight print these warnings.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..scenarios.model import Scenario
from ..scenarios.units import format_duration


@dataclass(frozen=True)
class TargetTimings:
    """Lower bounds the target's own settings put on recovery milestones, in seconds."""

    failover_floor_s: float | None = None  # earliest failover: checks × period + promotion
    rollback_floor_s: float | None = None  # earliest automatic rollback after a rollout starts
    detection_floor_s: float | None = None  # earliest alert: rule window
    explanation: dict[str, str] | None = None


def budget_warnings(scenario: Scenario, timings: TargetTimings | None = None) -> list[str]:
    """Every objective that the scenario's own limits or the target's timings make unreachable."""
    warnings: list[str] = []
    obj = scenario.objectives
    guard = scenario.guardrails.max_duration
    stable = scenario.steady_state.stable_for
    start = min(f.at for f in scenario.faults)
    if obj.recovery_time is not None and start + obj.recovery_time + stable > guard - stable:
        warnings.append(
            f"recovery_time {format_duration(obj.recovery_time)} ends after guardrails.max_duration "
            f"{format_duration(guard)} allows (baseline {format_duration(stable)} + first fault at "
            f"{format_duration(start)} + confirmation {format_duration(stable)}): a late recovery "
            "would be reported as an abort, not as a failed objective"
        )
    coarsest = max((p.every for p in scenario.steady_state.probes), default=0.0)
    for name in ("recovery_time", "failover_time", "detection_time"):
        bound = getattr(obj, name)
        if bound is not None and coarsest >= bound:
            warnings.append(
                f"{name} {format_duration(bound)} is not larger than the sampling interval "
                f"{format_duration(coarsest)}: the measurement cannot resolve it"
            )
    if timings is None:
        return warnings
    why = timings.explanation or {}
    pairs = (
        ("failover_time", timings.failover_floor_s),
        ("recovery_time", timings.failover_floor_s),
        ("rollback_time", timings.rollback_floor_s),
        ("detection_time", timings.detection_floor_s),
    )
    for name, floor in pairs:
        bound = getattr(obj, name)
        if bound is not None and floor is not None and floor > bound:
            reason = why.get(name, "")
            warnings.append(
                f"{name} {format_duration(bound)} cannot be met: the target needs at least "
                f"{format_duration(floor)}{f' ({reason})' if reason else ''}"
            )
    return warnings
