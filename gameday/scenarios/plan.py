"""What a drill will do and when, computed from the scenario alone (`gameday plan`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from .deadlines import choose_deadline
from .model import Objectives, Scenario
from .units import format_duration, format_percent


@dataclass(frozen=True)
class PlannedStep:
    """One planned moment; `at` is seconds after the baseline ends (negative: before)."""

    at: float
    what: str
    subject: str
    detail: str = ""


@dataclass(frozen=True)
class PlannedObjective:
    name: str
    bound: str
    meaning: str


def first_fault_at(scenario: Scenario) -> float:
    """Offset of the earliest fault: objectives count from there."""
    return min(f.at for f in scenario.faults)


def schedule(scenario: Scenario, started: datetime | None = None) -> list[PlannedStep]:
    """Every planned step in time order: baseline, faults and reverts, deadlines, guardrail limit.

    A {day, night} deadline is the one for a drill started at `started` (default: now).
    """
    stable = scenario.steady_state.stable_for
    steps = [
        PlannedStep(
            -stable, "baseline", "steady state", f"every probe passes for {format_duration(stable)}"
        ),
    ]
    if scenario.traffic:
        t = scenario.traffic
        source = t.locustfile or f"profile {t.profile}"
        steps.append(
            PlannedStep(-stable, "traffic", "users", f"{t.users} users ({source}), whole drill")
        )
    for fault in scenario.faults:
        detail = _fault_detail(fault)
        steps.append(PlannedStep(fault.at, f"inject {fault.action}", fault.subject(), detail))
        if fault.duration is not None:
            steps.append(
                PlannedStep(
                    fault.at + fault.duration,
                    f"revert {fault.action}",
                    fault.subject(),
                    fault.label(),
                )
            )
    start = first_fault_at(scenario)
    at = started or datetime.now(UTC)
    for step in scenario.manual_steps:
        optional = " (optional)" if step.optional else ""
        chosen = choose_deadline(step.deadline, at, scenario.night, event="now")
        tier = f"; {chosen.tier}: {chosen.why}" if chosen.tier else ""
        steps.append(
            PlannedStep(
                start + chosen.seconds,
                "manual deadline",
                step.name,
                f"{step.owner or 'operator'}{optional}{tier}",
            )
        )
    if scenario.objectives.recovery_time is not None:
        steps.append(
            PlannedStep(
                start + scenario.objectives.recovery_time,
                "recovery deadline",
                "objective",
                format_duration(scenario.objectives.recovery_time),
            )
        )
    steps.append(
        PlannedStep(
            scenario.guardrails.max_duration - stable,
            "abort if still running",
            "guardrail",
            f"max_duration {format_duration(scenario.guardrails.max_duration)}",
        )
    )
    steps.append(
        PlannedStep(
            max(s.at for s in steps),
            "teardown",
            "everything",
            "once recovery is confirmed, at the latest here: revert all, stop traffic",
        )
    )
    return sorted(steps, key=lambda s: s.at)


def _fault_detail(fault: object) -> str:
    fields = getattr(fault, "model_dump", None)
    if fields is None:
        return ""
    skip = {"name", "at", "duration", "action", "service"}
    data = fault.model_dump(mode="json", exclude_none=True, exclude_defaults=True)  # type: ignore[attr-defined]
    parts = [f"{k}={v}" for k, v in data.items() if k not in skip and v not in ([], {}, None)]
    if getattr(fault, "duration", None) is not None:
        parts.append(f"for {format_duration(fault.duration)}")  # type: ignore[attr-defined]
    return ", ".join(str(p) for p in parts)


_MEANING = {
    "recovery_time": ("≤", "first fault → steady state holds for stable_for"),
    "failover_time": ("≤", "recovered while the fault is still in force"),
    "detection_time": ("≤", "first fault → first alert received"),
    "escalation_time": ("≤", "first fault → first escalated alert received"),
    "availability": ("≥", "user requests that succeed over the drill"),
    "p99_latency": ("≤", "user p99 latency after recovery"),
    "rollback_time": ("≤", "gray release start → no user served by the bad version"),
    "blast_radius": ("≤", "user requests failed or served by the bad version"),
}


def objectives(obj: Objectives) -> list[PlannedObjective]:
    """The objectives the drill is judged on, with their bounds in scenario notation."""
    out: list[PlannedObjective] = []
    for name, (sign, meaning) in _MEANING.items():
        value = getattr(obj, name)
        if value is None:
            continue
        bound = (
            format_percent(value)
            if name in {"availability", "blast_radius"}
            else format_duration(value)
        )
        out.append(PlannedObjective(name, f"{sign} {bound}", meaning))
    if obj.data_loss is not None:
        span = (
            f", span ≤ {format_duration(obj.data_loss.max_span)}"
            if obj.data_loss.max_span is not None
            else ""
        )
        out.append(
            PlannedObjective(
                "data_loss",
                f"≤ {obj.data_loss.max_writes} writes{span}",
                "acknowledged writes missing afterwards",
            )
        )
    if obj.protected_success is not None:
        p = obj.protected_success
        out.append(
            PlannedObjective(
                "protected_success",
                f"≥ {format_percent(p.min)}",
                f"{', '.join(p.requests)} requests succeeding during the surge",
            )
        )
    return out
