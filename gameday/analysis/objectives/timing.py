"""Time objectives measured from the first fault: recovery, failover and detection time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...scenarios.units import format_duration
from ..milestones import DrillMilestones, Milestone
from .result import ObjectiveResult, at_most, unmeasured


def _t(milestone: Milestone | None) -> float | None:
    return None if milestone is None else float(milestone.t)


def _since_injection(
    name: str,
    ms: DrillMilestones,
    bound: float,
    milestone: Milestone | None,
    *,
    missing: str,
    what: str,
    detail: Callable[[Milestone, float], Mapping[str, Any]],
    **missing_detail: Any,
) -> ObjectiveResult:
    """milestone − t_inj within `bound`; error = its sampling bound + time to apply the fault.

    Fails with `missing` (and `missing_detail`) when the milestone never happened.
    """
    if ms.t_inj is None:
        return unmeasured(name, f"≤ {format_duration(bound)}", "s", "no fault was injected")
    if milestone is None:
        return unmeasured(name, f"≤ {format_duration(bound)}", "s", missing, **missing_detail)
    return at_most(
        name,
        milestone.t - ms.t_inj,
        milestone.bound + ms.apply_s(),
        bound,
        "s",
        what,
        **detail(milestone, ms.t_inj),
    )


def recovery_time(ms: DrillMilestones, bound: float) -> ObjectiveResult:
    """recovered − t_inj; error = sampling interval + time to apply the first fault."""
    return _since_injection(
        "recovery_time",
        ms,
        bound,
        ms.recovered,
        missing="never recovered within the deadline",
        what="recovered after",
        detail=lambda m, t_inj: {
            "recovered_at": m.t,
            "injected_at": t_inj,
            "confirmed_at": m.detail.get("confirmed_at"),
            "impacted": m.detail.get("impacted"),
        },
        impact=_t(ms.impact),
    )


def failover_time(ms: DrillMilestones, bound: float) -> ObjectiveResult:
    """failover.completed − t_inj: recovery while the fault was still in force."""
    if ms.t_inj is not None and ms.recovered is None:
        return unmeasured(
            "failover_time",
            f"≤ {format_duration(bound)}",
            "s",
            "never recovered within the deadline",
        )
    return _since_injection(
        "failover_time",
        ms,
        bound,
        ms.failover,
        missing="recovered only after the fault was reverted",
        what="failed over after",
        detail=lambda m, t_inj: {
            "failover_at": m.t,
            "injected_at": t_inj,
            "fault_reverted_at": m.detail.get("fault_reverted_at"),
        },
        recovered_at=_t(ms.recovered),
    )


def detection_time(ms: DrillMilestones, bound: float) -> ObjectiveResult:
    """detected − t_inj: the first firing alert received after injection."""
    return _since_injection(
        "detection_time",
        ms,
        bound,
        ms.detected,
        missing="no alert received",
        what="first alert after",
        detail=lambda m, _: {"alert": m.detail.get("alert"), "detected_at": m.t},
    )
