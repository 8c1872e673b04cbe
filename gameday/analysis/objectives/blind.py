"""Blind is not healthy: objectives whose measurement died before the drill ended are not judged.

A drill whose traffic stopped (Locust killed, its bounds reached) has no evidence for what
traffic measures after that moment; silence there must never read as 100% availability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ...scenarios.units import format_duration
from ..timeline import MEASUREMENT_LOST, Event, Timeline
from .result import ObjectiveResult
from .windows import observation_end

# objectives judged from user traffic; recovery and failover too when the steady state
# includes a traffic success ratio
TRAFFIC_OBJECTIVES = frozenset(
    {
        "availability",
        "p99_latency",
        "blast_radius",
        "rollback_time",
        "release_outcome",
        "protected_success",
        "breakers_close_within",
    }
)
STEADY_OBJECTIVES = frozenset({"recovery_time", "failover_time"})


def measurement_lost(timeline: Timeline, stream: str = "traffic") -> Event | None:
    """The first `measurement.lost` of `stream` before observation ended, if any."""
    end = observation_end(timeline)
    lost = [e for e in timeline.events_of(MEASUREMENT_LOST, stream) if e.t < end]
    return min(lost, key=lambda e: e.t) if lost else None


def judge_blind(
    results: Sequence[ObjectiveResult], timeline: Timeline, *, traffic_in_steady_state: bool
) -> list[ObjectiveResult]:
    """`results` with every objective that depended on a lost stream made "not judged"."""
    lost = measurement_lost(timeline)
    if lost is None:
        return list(results)
    affected = TRAFFIC_OBJECTIVES | (STEADY_OBJECTIVES if traffic_in_steady_state else frozenset())
    why = lost.detail.get("reason")
    reason = f"not judged: traffic stopped at +{format_duration(round(lost.t, 3))}" + (
        f" ({why})" if why else ""
    )
    return [
        replace(
            r,
            measured=None,
            error=None,
            passed=False,
            judged=False,
            reason=reason,
            detail={**dict(r.detail), "measurement_lost_at": lost.t},
        )
        if r.name in affected
        else r
        for r in results
    ]
