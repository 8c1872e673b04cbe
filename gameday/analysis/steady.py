"""The steady-state evaluator: does every steady-state probe (and user traffic) pass, since when.

Pure code, no I/O. `SteadyTracker` is the one definition of "the steady state holds": the
engine feeds it live, `milestones.recovery()` replays it over the finished timeline, so the
live view and the report cannot disagree.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from typing import NamedTuple

from ..traffic.stats import AGGREGATE_NAME, TrafficWindow
from .timeline import Sample, Timeline

TRAFFIC_STREAM = "traffic:*"  # the pseudo-probe standing for user traffic in the tracker
_EPS = 1e-9  # float slack when comparing sums of grid times


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
        self._window: tuple[float, float] | None = None
        self._relapses: list[tuple[float, float, float, str]] = []
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
        healthy = traffic_healthy(window, self.min_traffic_success)
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
            if self._window is not None:
                # a complete window, then an impact: that "recovery" was not one
                self._relapses.append((*self._window, obs.t, obs.stream))
                self._window = None
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
        if self._window is None and self._complete(obs.t):
            self._window = (self._candidate, obs.t)
            if self._first_window is None:
                self._first_window = self._window

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

    @property
    def window(self) -> tuple[float, float] | None:
        """(start, confirmed at) of the current run's window once complete; None after a failure."""
        return self._window

    @property
    def relapses(self) -> list[tuple[float, float, float, str]]:
        """(window start, confirmed at, failure t, stream) of each complete window a failure ended."""
        return list(self._relapses)


def traffic_healthy(window: TrafficWindow, min_success: float) -> bool:
    """Whether one aggregate traffic second meets `min_traffic_success`."""
    ratio = window.success_ratio
    # a second without requests is not evidence of health
    return ratio is not None and ratio >= min_success - _EPS


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
