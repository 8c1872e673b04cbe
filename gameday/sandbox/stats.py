"""Request statistics at the gateway: rolling per-second windows and Prometheus metrics."""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0)
_MAX_SAMPLES_PER_SECOND = 2000  # bounds memory under a surge; percentiles stay representative


def is_error(status: int) -> bool:
    """A response counts as an error when the server failed (5xx); 429 is deliberate shedding."""
    return status >= 500


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class _Second:
    second: int
    requests: int = 0
    errors: int = 0
    shed: int = 0
    latencies_ms: list[float] = field(default_factory=list)


@dataclass
class WindowStats:
    """Aggregate over a window: counts, rates and latency percentiles."""

    requests: int
    errors: int
    shed: int
    p50_ms: float
    p99_ms: float

    @property
    def error_rate(self) -> float:
        """Share of requests that failed (0 when there were none)."""
        return self.errors / self.requests if self.requests else 0.0

    @property
    def success_rate(self) -> float:
        """Share of requests that did not fail (1 when there were none)."""
        return 1.0 - self.error_rate

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "shed": self.shed,
            "error_rate": round(self.error_rate, 4),
            "success_rate": round(self.success_rate, 4),
            "p50_ms": round(self.p50_ms, 1),
            "p99_ms": round(self.p99_ms, 1),
        }


class RollingStats:
    """Per-key (e.g. version) per-second buckets kept for ``horizon_s`` seconds."""

    def __init__(self, horizon_s: int = 180, clock: Callable[[], float] = time.monotonic) -> None:
        self.horizon_s = horizon_s
        self._clock = clock
        self._buckets: dict[str, deque[_Second]] = defaultdict(deque)

    def record(self, key: str, status: int, latency_ms: float) -> None:
        """Count one response for ``key``."""
        now = int(self._clock())
        dq = self._buckets[key]
        if not dq or dq[-1].second != now:
            dq.append(_Second(now))
            while dq and dq[0].second < now - self.horizon_s:
                dq.popleft()
        b = dq[-1]
        b.requests += 1
        if is_error(status):
            b.errors += 1
        if status == 429:
            b.shed += 1
        if len(b.latencies_ms) < _MAX_SAMPLES_PER_SECOND:
            b.latencies_ms.append(latency_ms)

    def names(self) -> list[str]:
        """Keys seen so far."""
        return sorted(self._buckets)

    def window(self, key: str | None, window_s: float, end_ago_s: float = 0.0) -> WindowStats:
        """Stats for ``key`` (all keys if None) over ``(now-end_ago-window, now-end_ago]``."""
        now = self._clock()
        hi = now - end_ago_s
        lo = hi - window_s
        keys = [key] if key is not None else list(self._buckets)
        req = err = shed = 0
        lat: list[float] = []
        for k in keys:
            for b in self._buckets.get(k, ()):
                if lo < b.second + 1 and b.second <= hi:
                    req += b.requests
                    err += b.errors
                    shed += b.shed
                    lat.extend(b.latencies_ms)
        return WindowStats(req, err, shed, percentile(lat, 50), percentile(lat, 99))


class PromMetrics:
    """Cumulative counters and a latency histogram rendered in Prometheus text format."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, str, str], int] = defaultdict(int)
        self._hist: dict[tuple[str, str], list[int]] = {}
        self._sum: dict[tuple[str, str], float] = defaultdict(float)
        self._count: dict[tuple[str, str], int] = defaultdict(int)
        self.gauges: dict[str, float] = {}

    def record(self, route: str, status: int, version: str, site: str, seconds: float) -> None:
        """Count one request."""
        self._requests[(route, str(status), version, site)] += 1
        key = (route, version)
        buckets = self._hist.setdefault(key, [0] * len(LATENCY_BUCKETS_S))
        for i, le in enumerate(LATENCY_BUCKETS_S):
            if seconds <= le:
                buckets[i] += 1
        self._sum[key] += seconds
        self._count[key] += 1

    def render(self) -> str:
        """Prometheus exposition text (version 0.0.4)."""
        lines = [
            "# HELP gameday_gateway_requests_total Requests served by the gateway.",
            "# TYPE gameday_gateway_requests_total counter",
        ]
        for (route, status, version, site), n in sorted(self._requests.items()):
            lines.append(
                f'gameday_gateway_requests_total{{route="{route}",status="{status}",'
                f'version="{version}",site="{site}"}} {n}'
            )
        lines += [
            "# HELP gameday_gateway_request_duration_seconds Gateway request latency.",
            "# TYPE gameday_gateway_request_duration_seconds histogram",
        ]
        for (route, version), buckets in sorted(self._hist.items()):
            labels = f'route="{route}",version="{version}"'
            for le, n in zip(LATENCY_BUCKETS_S, buckets, strict=True):
                lines.append(
                    f'gameday_gateway_request_duration_seconds_bucket{{{labels},le="{le}"}} {n}'
                )
            total = self._count[(route, version)]
            lines.append(
                f'gameday_gateway_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}'
            )
            lines.append(
                f"gameday_gateway_request_duration_seconds_sum{{{labels}}} "
                f"{self._sum[(route, version)]:.6f}"
            )
            lines.append(f"gameday_gateway_request_duration_seconds_count{{{labels}}} {total}")
        for name, value in sorted(self.gauges.items()):
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {value}")
        return "\n".join(lines) + "\n"
