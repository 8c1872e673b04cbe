"""Gray-release objectives: what traffic saw of a bad version, rollback time, blast radius."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...scenarios.model import AnyFault, GrayReleaseFault
from ...scenarios.units import format_duration, format_percent
from ...traffic.stats import TrafficWindow
from ..timeline import Timeline
from .result import EPS, ObjectiveResult, at_most, unmeasured
from .windows import (
    aggregate_windows,
    edge_share,
    fault_action,
    fault_named,
    injections,
    observation_end,
)

CLEAN_AFTER_ROLLBACK_S = 2.0  # traffic without the bad version needed to call it rolled back
FULL_ROLLOUT_SHARE = 0.99  # a canary share this high means the version reached 100%


def _bad_count(window: TrafficWindow, version: str) -> int:
    # served_by keys look like "api-canary/v2-faulty": instance / version
    return sum(n for key, n in window.served_by.items() if key.rsplit("/", 1)[-1] == version)


@dataclass(frozen=True)
class GrayRelease:
    """What traffic saw of one gray release."""

    fault: str
    version: str
    t_release: float
    expect_rollback: bool
    windows: tuple[TrafficWindow, ...]
    max_share: float
    reached_bad: int
    total: int
    failed: int
    last_bad_end: float | None
    clean_after_s: float
    end: float

    @property
    def rolled_back(self) -> bool:
        """Bad-version traffic stopped and at least 2 s of later traffic show none."""
        return self.last_bad_end is not None and self.clean_after_s >= CLEAN_AFTER_ROLLBACK_S - EPS

    @property
    def reached_full(self) -> bool:
        return self.max_share >= FULL_ROLLOUT_SHARE


def gray_release(timeline: Timeline, faults: Sequence[AnyFault]) -> GrayRelease | None:
    """The first gray release's traffic picture, or None when there was none."""
    for event in injections(timeline):
        if fault_action(event, faults) != "gray-release":
            continue
        fault = fault_named(event.name, faults)
        version = event.detail.get("version")
        if not isinstance(version, str):
            version = fault.version if isinstance(fault, GrayReleaseFault) else None
        if version is None:
            continue
        expect = event.detail.get("expect_rollback")
        if not isinstance(expect, bool):
            expect = fault.expect_rollback if isinstance(fault, GrayReleaseFault) else True
        end = observation_end(timeline)
        windows = aggregate_windows(timeline, event.t, end)
        shares = [_bad_count(w, version) / w.count for w in windows if w.count]
        bad_idx = [i for i, w in enumerate(windows) if _bad_count(w, version) > 0]
        last = bad_idx[-1] if bad_idx else None
        clean = (
            sum(w.window for w in windows[last + 1 :] if w.count > 0) if last is not None else 0.0
        )
        return GrayRelease(
            fault=event.name,
            version=version,
            t_release=event.t,
            expect_rollback=expect,
            windows=tuple(windows),
            max_share=max(shares, default=0.0),
            reached_bad=sum(_bad_count(w, version) for w in windows),
            total=sum(w.count for w in windows),
            failed=sum(w.failures for w in windows),
            last_bad_end=None if last is None else windows[last].t_mono,
            clean_after_s=clean,
            end=end,
        )
    return None


def rollback_time(timeline: Timeline, faults: Sequence[AnyFault], bound: float) -> ObjectiveResult:
    """End of the last window with bad-version traffic − release start, once it stays at zero."""
    text = f"≤ {format_duration(bound)}"
    rel = gray_release(timeline, faults)
    if rel is None:
        return unmeasured("rollback_time", text, "s", "no gray release in the timeline")
    detail: dict[str, Any] = {
        "version": rel.version,
        "released_at": rel.t_release,
        "max_canary_share": rel.max_share,
        "requests_to_version": rel.reached_bad,
        "last_seen_at": rel.last_bad_end,
        "clean_traffic_after_s": rel.clean_after_s,
    }
    if rel.last_bad_end is None:
        return unmeasured(
            "rollback_time",
            text,
            "s",
            f"no request reached {rel.version}: nothing to measure",
            **detail,
        )
    if not rel.rolled_back:
        if not rel.expect_rollback or rel.reached_full:
            why = "no rollback happened" + (
                f" ({rel.version} reached 100% of traffic)" if rel.reached_full else ""
            )
        else:
            why = f"never rolled back: users still served by {rel.version}"
        return unmeasured("rollback_time", text, "s", why, **detail)
    return at_most(
        "rollback_time",
        rel.last_bad_end - rel.t_release,
        1.0,  # one traffic window: the version may have left at any time in its last second
        bound,
        "s",
        "rolled back after",
        **detail,
    )


def blast_radius(timeline: Timeline, faults: Sequence[AnyFault], maximum: float) -> ObjectiveResult:
    """(failed + served by the bad version) / total since release: an upper bound."""
    text = f"≤ {format_percent(maximum)}"
    rel = gray_release(timeline, faults)
    if rel is None:
        return unmeasured("blast_radius", text, "ratio", "no gray release in the timeline")
    if not rel.total:
        return unmeasured(
            "blast_radius", text, "ratio", "no traffic data after the release started"
        )
    value = min(1.0, (rel.failed + rel.reached_bad) / rel.total)
    passed = value <= maximum + EPS
    return ObjectiveResult(
        "blast_radius",
        text,
        value,
        edge_share(rel.windows, rel.t_release, rel.end),
        "ratio",
        passed,
        f"at most {format_percent(value)} of {rel.total} requests failed or reached "
        f"{rel.version}, {'within' if passed else 'over'} the objective {format_percent(maximum)}",
        {
            "version": rel.version,
            "requests": rel.total,
            "failed": rel.failed,
            "served_by_version": rel.reached_bad,
            "max_canary_share": rel.max_share,
            "method": "upper bound: per-second windows do not cross-tabulate failures by "
            "version, so a failed request served by the bad version may be counted twice",
        },
    )
