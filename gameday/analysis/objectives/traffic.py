"""Traffic objectives over the drill: availability, and p99 latency after recovery."""

from __future__ import annotations

from typing import Any

from ...scenarios.units import format_duration, format_percent
from ...traffic.stats import HIST_MAX_RELATIVE_ERROR, histogram_percentile, merge_histograms
from ..milestones import DrillMilestones
from ..timeline import Timeline
from .result import EPS, ObjectiveResult, at_most, unmeasured
from .windows import (
    aggregate_windows,
    cells,
    count_between,
    injections,
    observation_end,
    phase_time,
)

SLICED_METHOD = (
    "requests completed from the inject phase to verify, counted per 25 ms slice; "
    "error: the requests in the slices the window's edges cut"
)


def availability(timeline: Timeline, minimum: float) -> ObjectiveResult:
    """ok / count of the requests completed from baseline end (`inject` phase) to `verify`.

    Counted per 25 ms slice where windows carry slices (else per 1 s window); the error bound
    is the share of requests in slices (windows) the drill window's edges cut.
    """
    text = f"≥ {format_percent(minimum)}"
    start = phase_time(timeline, "inject")
    if start is None:
        start = next((e.t for e in injections(timeline)), None)
    if start is None:
        return unmeasured(
            "availability", text, "ratio", "no drill window: the drill never reached inject"
        )
    end = observation_end(timeline)
    windows = aggregate_windows(timeline, start, end)
    counted = count_between(cells(windows), start, end)
    total = counted.total
    if not total:
        return unmeasured("availability", text, "ratio", "no traffic data in the drill window")
    ok = counted.ok
    value = ok / total
    passed = value >= minimum - EPS
    reason = (
        f"{format_percent(value)} of {total} requests succeeded, "
        f"{'meeting' if passed else 'below'} the objective {format_percent(minimum)}"
    )
    detail: dict[str, Any] = {
        "from": start,
        "to": end,
        "requests": total,
        "ok": ok,
        "failed": total - ok,
        "windows": len(windows),
    }
    if any(w.slices is not None for w in windows):
        # reports from before windows carried slices keep their detail as it was
        detail["edge_requests"] = counted.edge
        detail["method"] = SLICED_METHOD
    return ObjectiveResult(
        "availability", text, value, counted.edge_share, "ratio", passed, reason, detail
    )


def p99_after_recovery(timeline: Timeline, ms: DrillMilestones, bound: float) -> ObjectiveResult:
    """p99 of every request in the windows wholly after `recovered`, from their pooled histograms."""
    text = f"≤ {format_duration(bound)}"
    if ms.recovered is None:
        return unmeasured("p99_latency", text, "s", "never recovered, so no latency after recovery")
    # after recovery for certain: the bracket's upper edge, not its midpoint
    bracket = ms.recovered.detail.get("bracket")
    start = float(bracket[1]) if isinstance(bracket, list | tuple) else ms.recovered.t
    end = observation_end(timeline)
    windows = [
        w
        for w in aggregate_windows(timeline, start, end)
        if w.t_start >= start - EPS and w.t_mono <= end + EPS and w.p99_ms is not None
    ]
    if not windows:
        return unmeasured("p99_latency", text, "s", "no traffic data after recovery")
    detail: dict[str, Any] = {"from": start, "to": end, "windows": len(windows)}
    if all(w.hist for w in windows):
        hist = merge_histograms(w.hist for w in windows)
        slowest = max(w.max_ms or 0.0 for w in windows)
        value_ms = histogram_percentile(hist, 99.0, slowest) or 0.0
        what = "p99 after recovery"
        detail["method"] = (
            "nearest-rank p99 of every request in the 1 s windows wholly after recovery "
            "(their latency histograms pooled)"
        )
        detail["requests"] = sum(hist.values())
    else:
        # windows without histograms (reports written before windows carried them): the
        # worst window's p99 is an upper bound of the pooled p99
        worst = max(windows, key=lambda w: (w.p99_ms or 0.0, -w.t_mono))
        value_ms = worst.p99_ms or 0.0
        what = "worst per-second p99 after recovery"
        detail["method"] = (
            "max over 1 s windows wholly after recovery of the aggregate p99 "
            "(conservative: at least the p99 of the whole period)"
        )
        detail["worst_window_end"] = worst.t_mono
    value = value_ms / 1000.0
    return at_most(
        "p99_latency", value, value * HIST_MAX_RELATIVE_ERROR, bound, "s", what, **detail
    )
