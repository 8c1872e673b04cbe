"""Milestones derived from a Timeline, and the steady-state evaluator behind them.

Pure code, no I/O. A milestone's time is its first qualifying sample and its error bound
is the sampling interval (DESIGN.md, "Measurement"). `SteadyTracker` is the one
definition of "the steady state holds": the engine feeds it live, `recovered()` replays it
over the finished timeline, so the live view and the report cannot disagree.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..traffic.stats import AGGREGATE_NAME, TrafficWindow
from .timeline import ALERT, FAULT_INJECTED, FAULT_REVERTED, MANUAL, Event, Sample, Timeline

IMPACT_STARTED = "impact.started"
RECOVERED = "recovered"
FAILOVER_COMPLETED = "failover.completed"
DETECTED = "detected"
ALERT_BOUND_S = 0.01  # alerts are timed when the webhook receives them
TRAFFIC_STREAM = "traffic:*"  # the pseudo-probe standing for user traffic in the tracker
_EPS = 1e-9  # float slack when comparing sums of grid times


@dataclass(frozen=True)
class Milestone:
    """A moment on the timeline, with its error bound in seconds."""

    name: str
    t: float
    bound: float
    detail: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- steady state


class _Obs(NamedTuple):
    # ordering: by time, passes before failures at the same instant (a failure at t must
    # reset a candidate that starts at t, never the other way round), then stream name;
    # a tuple, so the heap compares in C (a 24-hour replay makes millions of comparisons)
    t: float
    failed: bool
    stream: str
    seq: int


class SteadyTracker:
    """Incremental "does every steady-state probe pass, and since when".

    Feed samples (and traffic windows when `min_traffic_success` is set) as they arrive;
    each probe's samples must arrive in time order. Observations are merged across
    probes in time order up to the watermark (the latest time every stream has reached),
    so a slow probe's late answer is judged in its place. Cost per feed: O(log buffer).
    """

    def __init__(
        self,
        probes: Iterable[str],
        stable_for: float,
        *,
        min_traffic_success: float | None = None,
        after: float | None = None,
    ) -> None:
        self.probes: tuple[str, ...] = tuple(sorted(set(probes)))
        self.stable_for = float(stable_for)
        self.min_traffic_success = min_traffic_success
        self.after = after
        streams = list(self.probes)
        if min_traffic_success is not None:
            streams.append(TRAFFIC_STREAM)
        self.streams: tuple[str, ...] = tuple(streams)
        self._latest: dict[str, float] = {}
        self._heap: list[_Obs] = []
        self._seq = itertools.count()
        self._candidate: float | None = None
        self._seen: set[str] = set()
        self._processed_t: float | None = None
        self._first_window: tuple[float, float] | None = None
        self._last_failure: tuple[float, str] | None = None
        self._failures = 0

    # feeding ---------------------------------------------------------------

    def feed(self, sample: Sample) -> None:
        """Add one steady-state probe sample (samples of other probes are ignored)."""
        if sample.probe not in self.probes:
            return
        self._push(sample.t, not sample.ok, sample.probe)

    def feed_traffic(self, window: TrafficWindow) -> None:
        """Add one traffic window; only the aggregate line counts, judged at its end."""
        if self.min_traffic_success is None or window.name != AGGREGATE_NAME:
            return
        ratio = window.success_ratio
        # a second without requests is not evidence of health
        healthy = ratio is not None and ratio >= self.min_traffic_success - _EPS
        self._push(window.t_mono, not healthy, TRAFFIC_STREAM)

    def flush(self) -> None:
        """Judge everything buffered, whatever the watermark (the drill has ended)."""
        while self._heap:
            self._process(heapq.heappop(self._heap))

    def _push(self, t: float, failed: bool, stream: str) -> None:
        if self.after is not None and t < self.after:
            return
        self._latest[stream] = max(t, self._latest.get(stream, t))
        heapq.heappush(self._heap, _Obs(t, failed, stream, next(self._seq)))
        if len(self._latest) < len(self.streams):
            return
        watermark = min(self._latest.values())
        while self._heap and self._heap[0].t <= watermark:
            self._process(heapq.heappop(self._heap))

    def _process(self, obs: _Obs) -> None:
        self._processed_t = obs.t if self._processed_t is None else max(self._processed_t, obs.t)
        if obs.failed:
            self._candidate = None
            self._seen.clear()
            self._last_failure = (obs.t, obs.stream)
            self._failures += 1
            return
        if self._candidate is None:
            if obs.stream == TRAFFIC_STREAM:
                # a healthy traffic second alone does not start a window: probes do
                return
            self._candidate = obs.t
        self._seen.add(obs.stream)
        if self._first_window is None and self._complete(obs.t):
            self._first_window = (self._candidate, obs.t)

    def _complete(self, t: float) -> bool:
        return (
            self._candidate is not None
            and t >= self._candidate + self.stable_for - _EPS
            and len(self._seen) == len(self.streams)
        )

    # questions -------------------------------------------------------------

    @property
    def since(self) -> float | None:
        """Start of the current run of passing observations; None while failing or unknown."""
        return self._candidate

    @property
    def judged_until(self) -> float | None:
        """Time of the latest observation judged so far (the watermark actually reached)."""
        return self._processed_t

    @property
    def last_failure(self) -> tuple[float, str] | None:
        """(t, stream) of the latest failing observation judged."""
        return self._last_failure

    @property
    def failures(self) -> int:
        """Failing observations judged so far."""
        return self._failures

    def holds(self, stable_for: float | None = None) -> bool:
        """True when the current passing run has lasted `stable_for` with every probe seen."""
        need = self.stable_for if stable_for is None else stable_for
        if self._candidate is None or self._processed_t is None:
            return False
        return self._processed_t >= self._candidate + need - _EPS and len(self._seen) == len(
            self.streams
        )

    @property
    def first_window(self) -> tuple[float, float] | None:
        """(start, confirmed at) of the first complete `stable_for` window, once there is one."""
        return self._first_window


def tracker_for(
    timeline: Timeline,
    stable_for: float,
    *,
    min_traffic_success: float | None = None,
    after: float | None = None,
    until: float | None = None,
) -> SteadyTracker:
    """Replay a timeline's steady-state samples (and traffic) into a flushed tracker."""
    tracker = SteadyTracker(
        [p.name for p in timeline.steady_probes()],
        stable_for,
        min_traffic_success=min_traffic_success,
        after=after,
    )
    for name in tracker.probes:
        for sample in sorted(timeline.samples.get(name, []), key=lambda s: s.t):
            if until is None or sample.t <= until:
                tracker.feed(sample)
    if min_traffic_success is not None:
        for window in sorted(timeline.traffic, key=lambda w: w.t_mono):
            if until is None or window.t_mono <= until:
                tracker.feed_traffic(window)
    tracker.flush()
    return tracker


def steady_since(
    timeline: Timeline,
    now: float,
    *,
    min_traffic_success: float | None = None,
    after: float | None = None,
) -> float | None:
    """Since when every steady probe has passed, judging samples up to `now` (rescans: tests, CLI)."""
    return tracker_for(
        timeline, 0.0, min_traffic_success=min_traffic_success, after=after, until=now
    ).since


def holds_for(
    timeline: Timeline,
    start: float,
    stable_for: float,
    *,
    min_traffic_success: float | None = None,
) -> bool:
    """Whether a complete `stable_for` window of steady state begins at or after `start`."""
    tracker = tracker_for(
        timeline, stable_for, min_traffic_success=min_traffic_success, after=start
    )
    return tracker.first_window is not None


# --------------------------------------------------------------------------- milestones


def _bound(event: Event, key: str) -> float:
    value = event.detail.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def injection_time(timeline: Timeline) -> float | None:
    """Time of the first `fault.injected` event: t_inj, the origin of every objective."""
    first = timeline.first(FAULT_INJECTED)
    return None if first is None else first.t


def fault_milestones(timeline: Timeline) -> list[Milestone]:
    """`fault.injected` / `fault.reverted`, bounded by how long the driver call took."""
    out: list[Milestone] = []
    for event in timeline.events:
        if event.kind == FAULT_INJECTED:
            out.append(
                Milestone(FAULT_INJECTED, event.t, _bound(event, "apply_s"), {"fault": event.name})
            )
        elif event.kind == FAULT_REVERTED:
            out.append(
                Milestone(FAULT_REVERTED, event.t, _bound(event, "revert_s"), {"fault": event.name})
            )
    return out


def manual_milestones(timeline: Timeline) -> list[Milestone]:
    """`manual.<step>` for every step marked done."""
    return [
        Milestone(f"{MANUAL}.{e.name}", e.t, 0.0, dict(e.detail))
        for e in timeline.events
        if e.kind == MANUAL
    ]


def impact_started(timeline: Timeline, t_inj: float) -> Milestone | None:
    """First failing steady-state sample at or after injection; bound: that probe's interval."""
    best: Sample | None = None
    for probe in timeline.steady_probes():
        for sample in timeline.samples.get(probe.name, []):
            if not sample.ok and sample.t >= t_inj and (best is None or sample.t < best.t):
                best = sample
    if best is None:
        return None
    every = timeline.probes[best.probe].every
    return Milestone(IMPACT_STARTED, best.t, every, {"probe": best.probe, "detail": best.detail})


def recovered(
    timeline: Timeline,
    t_inj: float,
    stable_for: float,
    min_traffic_success: float | None = None,
) -> Milestone | None:
    """Start of the first `stable_for` window after injection in which every steady probe passes."""
    tracker = tracker_for(
        timeline, stable_for, min_traffic_success=min_traffic_success, after=t_inj
    )
    window = tracker.first_window
    if window is None:
        return None
    start, confirmed = window
    return Milestone(
        RECOVERED,
        start,
        timeline.sampling_interval(),
        {"confirmed_at": confirmed, "stable_for": stable_for, "impacted": tracker.failures > 0},
    )


def first_revert_after(timeline: Timeline, t_inj: float) -> Event | None:
    """The first `fault.reverted` of a fault injected at or after `t_inj`."""
    injected = {e.name for e in timeline.events_of(FAULT_INJECTED) if e.t >= t_inj}
    reverts = [e for e in timeline.events_of(FAULT_REVERTED) if e.name in injected]
    return min(reverts, key=lambda e: e.t) if reverts else None


def failover_completed(
    timeline: Timeline, t_inj: float, recovery: Milestone | None
) -> Milestone | None:
    """`recovered`, when its window started while the fault was still in force."""
    if recovery is None:
        return None
    revert = first_revert_after(timeline, t_inj)
    if revert is not None and recovery.t >= revert.t:
        return None
    detail = dict(recovery.detail)
    detail["fault_reverted_at"] = None if revert is None else revert.t
    return Milestone(FAILOVER_COMPLETED, recovery.t, recovery.bound, detail)


def detected(timeline: Timeline, t_inj: float) -> Milestone | None:
    """First firing alert received at or after injection."""
    firing = [
        e
        for e in timeline.events_of(ALERT)
        if e.t >= t_inj and str(e.detail.get("status", "firing")).lower() == "firing"
    ]
    if not firing:
        return None
    first = min(firing, key=lambda e: e.t)
    return Milestone(DETECTED, first.t, ALERT_BOUND_S, {"alert": first.name, **dict(first.detail)})


@dataclass(frozen=True)
class DrillMilestones:
    """Every milestone of a drill, with the key ones by name."""

    t_inj: float | None
    injected: Milestone | None
    impact: Milestone | None
    recovered: Milestone | None
    failover: Milestone | None
    detected: Milestone | None
    all: tuple[Milestone, ...]

    def apply_s(self) -> float:
        """How long applying the first fault took (part of every objective's error)."""
        return 0.0 if self.injected is None else self.injected.bound


def derive_milestones(
    timeline: Timeline, stable_for: float, min_traffic_success: float | None = None
) -> DrillMilestones:
    """Derive every milestone; the key ones are None when they did not happen."""
    faults = fault_milestones(timeline)
    manual = manual_milestones(timeline)
    t_inj = injection_time(timeline)
    injected = min((m for m in faults if m.name == FAULT_INJECTED), key=lambda m: m.t, default=None)
    impact = rec = fo = det = None
    if t_inj is not None:
        impact = impact_started(timeline, t_inj)
        rec = recovered(timeline, t_inj, stable_for, min_traffic_success)
        fo = failover_completed(timeline, t_inj, rec)
        det = detected(timeline, t_inj)
    key = [m for m in (impact, det, fo, rec) if m is not None]
    ordered = sorted([*faults, *manual, *key], key=lambda m: (m.t, m.name))
    return DrillMilestones(t_inj, injected, impact, rec, fo, det, tuple(ordered))
