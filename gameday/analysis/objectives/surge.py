"""Load-surge objectives: protected requests succeed during the surge, breakers close after."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...scenarios.model import AnyFault
from ...scenarios.units import format_duration, format_percent
from ..timeline import Timeline
from .result import EPS, ObjectiveResult, at_most, unmeasured
from .windows import (
    aggregate_windows,
    edge_share,
    fault_action,
    injections,
    observation_end,
    revert_of,
    traffic_windows,
)


def _surge(timeline: Timeline, faults: Sequence[AnyFault]) -> tuple[str, float, float, bool] | None:
    """(fault, start, end, whether it was reverted) of the first load surge."""
    for event in injections(timeline):
        if fault_action(event, faults) == "load-surge":
            revert = revert_of(timeline, event)
            end = observation_end(timeline) if revert is None else revert.t
            return event.name, event.t, end, revert is not None
    return None


def protected_success(
    timeline: Timeline,
    faults: Sequence[AnyFault],
    requests: Sequence[str],
    minimum: float,
    max_shed: float | None = None,
    max_5xx: float | None = None,
    max_circuit: float | None = None,
) -> ObjectiveResult:
    """During the surge, protected requests succeed; each failure kind within its own budget."""
    parts = [f"≥ {format_percent(minimum)} ok"]
    for label, limit in (("shed", max_shed), ("5xx", max_5xx), ("circuit", max_circuit)):
        if limit is not None:
            parts.append(f"{label} ≤ {format_percent(limit)}")
    text = ", ".join(parts)
    surge = _surge(timeline, faults)
    if surge is None:
        return unmeasured("protected_success", text, "ratio", "no load surge in the timeline")
    name, start, end, _ = surge
    windows = traffic_windows(timeline.traffic, start, end, set(requests))
    total = sum(w.count for w in windows)
    if not total:
        return unmeasured(
            "protected_success",
            text,
            "ratio",
            f"no {'/'.join(requests)} requests during the surge",
            surge=name,
        )
    sums = {
        "ok": sum(w.ok for w in windows),
        "shed": sum(w.shed for w in windows),
        "5xx": sum(w.error_5xx for w in windows),
        "circuit": sum(w.circuit for w in windows),
    }
    checks: list[dict[str, Any]] = [
        {
            "check": "ok",
            "measured": sums["ok"] / total,
            "bound": minimum,
            "op": ">=",
            "passed": sums["ok"] / total >= minimum - EPS,
        }
    ]
    for label, limit in (("shed", max_shed), ("5xx", max_5xx), ("circuit", max_circuit)):
        if limit is not None:
            share = sums[label] / total
            checks.append(
                {
                    "check": label,
                    "measured": share,
                    "bound": limit,
                    "op": "<=",
                    "passed": share <= limit + EPS,
                }
            )
    failed = [c for c in checks if not c["passed"]]
    value = sums["ok"] / total
    if failed:
        reason = "; ".join(
            f"{c['check']} {format_percent(c['measured'])} "
            f"{'below' if c['op'] == '>=' else 'over'} {format_percent(c['bound'])}"
            for c in failed
        )
    else:
        reason = (
            f"{format_percent(value)} of {total} protected requests succeeded; every budget met"
        )
    return ObjectiveResult(
        "protected_success",
        text,
        value,
        edge_share(windows, start, end),
        "ratio",
        not failed,
        reason,
        {
            "surge": name,
            "from": start,
            "to": end,
            "requests": list(requests),
            "total": total,
            "counts": sums,
            "checks": checks,
        },
    )


def breakers_close_within(
    timeline: Timeline, faults: Sequence[AnyFault], bound: float
) -> ObjectiveResult:
    """End of the last window with circuit-open failures after the surge ends − surge end."""
    text = f"≤ {format_duration(bound)}"
    surge = _surge(timeline, faults)
    if surge is None:
        return unmeasured("breakers_close_within", text, "s", "no load surge in the timeline")
    name, _, surge_end, reverted = surge
    if not reverted:
        return unmeasured("breakers_close_within", text, "s", "the surge never ended", surge=name)
    end = observation_end(timeline)
    after = [w for w in aggregate_windows(timeline, surge_end, end) if w.count > 0]
    if not after:
        return unmeasured(
            "breakers_close_within", text, "s", "no traffic data after the surge", surge=name
        )
    open_windows = [w for w in after if w.circuit > 0]
    if open_windows and open_windows[-1] is after[-1]:
        return unmeasured(
            "breakers_close_within",
            text,
            "s",
            "breakers still failing fast at the end of observation",
            surge=name,
            last_open_at=after[-1].t_mono,
        )
    value = max(0.0, open_windows[-1].t_mono - surge_end) if open_windows else 0.0
    return at_most(
        "breakers_close_within",
        value,
        1.0,
        bound,
        "s",
        "breakers closed after",
        surge=name,
        surge_end=surge_end,
        last_open_at=open_windows[-1].t_mono if open_windows else None,
    )
