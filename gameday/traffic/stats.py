"""Per-second traffic statistics: classification, latency histogram, windows, the stats file.

Pure code, no I/O and no Locust import: the Locust plugin (in its own process) and the
engine (asyncio side) both use it, and gevent's monkey-patching must never reach the engine.

Latency percentiles come from a log-bucketed histogram (buckets grow by 2 %, starting at
10 µs), so windows from several workers merge exactly. A reported percentile is the
geometric middle of the bucket holding the nearest-rank sample, clamped to the exact
maximum: its relative error is at most sqrt(1.02) - 1 ≈ 1.0 % (absolute ≤ 10 µs below
10 µs). `max_ms` is exact.

Every aggregate window also carries its requests in 25 ms slices (`gameday.traffic.slices`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gameday.traffic.slices import WINDOW_S as WINDOW_S
from gameday.traffic.slices import SliceCounts, WindowSlices
from gameday.traffic.slices import StatsLineError as StatsLineError

AGGREGATE_NAME = "*"

HIST_BASE_MS = 0.01
HIST_GROWTH = 1.02
HIST_MAX_RELATIVE_ERROR = math.sqrt(HIST_GROWTH) - 1.0
_LOG_GROWTH = math.log(HIST_GROWTH)


class Outcome(StrEnum):
    """How one request ended, as the drill counts it."""

    OK = "ok"
    SHED = "shed"  # HTTP 429: rate limiter shed the call
    CIRCUIT = "circuit"  # HTTP 503 with X-Circuit: open
    ERROR_5XX = "error_5xx"
    ERROR_OTHER = "error_other"  # other 4xx, connection errors, timeouts, user-marked failures


OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)


def classify(status: int | None, circuit_header: str | None, failed: bool) -> Outcome:
    """Classify a request by HTTP status (0/None: no response), X-Circuit and Locust's verdict."""
    if status == 429:
        return Outcome.SHED
    if status is not None and 500 <= status <= 599:
        if status == 503 and (circuit_header or "").strip().lower() == "open":
            return Outcome.CIRCUIT
        return Outcome.ERROR_5XX
    if not status or 400 <= status <= 499:
        # status 0 / None is how Locust reports connection errors and timeouts
        return Outcome.ERROR_OTHER
    if failed:
        # e.g. a 200 that the locustfile marked as failure with catch_response
        return Outcome.ERROR_OTHER
    return Outcome.OK


# --------------------------------------------------------------------------- percentiles


def exact_percentile(samples: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of the samples; None when there are none."""
    ordered = sorted(samples)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def bucket_of(latency_ms: float) -> int:
    """Histogram bucket holding a latency: bucket i covers (BASE·G^(i-1), BASE·G^i]."""
    if latency_ms <= HIST_BASE_MS:
        return 0
    return max(0, math.ceil(math.log(latency_ms / HIST_BASE_MS) / _LOG_GROWTH - 1e-12))


def bucket_value(index: int) -> float:
    """Representative latency of a bucket: its geometric middle (bucket 0: the base)."""
    if index <= 0:
        return HIST_BASE_MS
    return float(HIST_BASE_MS * HIST_GROWTH ** (index - 0.5))


def merge_histograms(hists: Iterable[Mapping[int, int]]) -> dict[int, int]:
    """Bucket-wise sum of histograms (windows, workers): the pooled histogram."""
    merged: dict[int, int] = {}
    for hist in hists:
        for b, n in hist.items():
            merged[b] = merged.get(b, 0) + n
    return merged


def hist_to_json(hist: Mapping[int, int]) -> dict[str, int]:
    """A histogram as a JSON object (string keys), buckets in order."""
    return {str(b): n for b, n in sorted(hist.items())}


def hist_from_json(data: Mapping[Any, Any]) -> dict[int, int]:
    """Inverse of `hist_to_json`."""
    return {int(b): int(n) for b, n in data.items()}


def histogram_percentile(hist: Mapping[int, int], q: float, max_ms: float) -> float | None:
    """Nearest-rank percentile from a bucket histogram, clamped to the exact maximum."""
    total = sum(hist.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q / 100.0 * total))
    seen = 0
    for index in sorted(hist):
        seen += hist[index]
        if seen >= rank:
            return min(bucket_value(index), max_ms)
    return max_ms


# --------------------------------------------------------------------------- accumulation


@dataclass
class NameStats:
    """Mutable counters of one request name over one window (mergeable across workers)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    hist: dict[int, int] = field(default_factory=dict)
    max_ms: float = 0.0
    served_by: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Requests completed in the window."""
        return sum(self.counts.values())

    def add(self, outcome: Outcome, latency_ms: float, served_by: str | None) -> None:
        """Count one completed request."""
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        latency_ms = max(0.0, float(latency_ms))
        b = bucket_of(latency_ms)
        self.hist[b] = self.hist.get(b, 0) + 1
        self.max_ms = max(self.max_ms, latency_ms)
        if served_by:
            self.served_by[served_by] = self.served_by.get(served_by, 0) + 1

    def merge(self, other: NameStats) -> None:
        """Add another accumulator's counts into this one."""
        for key, n in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        self.hist = merge_histograms((self.hist, other.hist))
        self.max_ms = max(self.max_ms, other.max_ms)
        for key, n in other.served_by.items():
            self.served_by[key] = self.served_by.get(key, 0) + n

    def to_wire(self) -> dict[str, Any]:
        """Plain dict for Locust's master/worker messages (msgpack: string keys only)."""
        return {
            "counts": dict(self.counts),
            "hist": hist_to_json(self.hist),
            "max_ms": self.max_ms,
            "served_by": dict(self.served_by),
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> NameStats:
        """Inverse of `to_wire`."""
        stats = cls()
        for key, n in dict(data.get("counts", {})).items():
            stats.counts[str(key)] = int(n)
        stats.hist = hist_from_json(dict(data.get("hist", {})))
        stats.max_ms = float(data.get("max_ms", 0.0))
        stats.served_by = {str(k): int(n) for k, n in dict(data.get("served_by", {})).items()}
        return stats


def window_record(
    t_end: float,
    window: float,
    name: str,
    stats: NameStats,
    users: int,
    late: int = 0,
    slices: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON object written to the stats file for one name and one window."""
    record: dict[str, Any] = {
        "t_mono": round(t_end, 6),
        "window": round(window, 6),
        "name": name,
        "count": stats.count,
    }
    for outcome in OUTCOMES:
        record[outcome.value] = stats.counts.get(outcome, 0)
    for label, q in (("p50_ms", 50.0), ("p95_ms", 95.0), ("p99_ms", 99.0)):
        value = histogram_percentile(stats.hist, q, stats.max_ms)
        record[label] = None if value is None else round(value, 3)
    record["max_ms"] = round(stats.max_ms, 3) if stats.count else None
    record["served_by"] = dict(sorted(stats.served_by.items()))
    record["users"] = users
    if late:
        record["late"] = late
    if name == AGGREGATE_NAME and stats.hist:
        # the aggregate carries its histogram: percentiles over many windows pool exactly
        record["hist"] = hist_to_json(stats.hist)
    if name == AGGREGATE_NAME and slices is not None and stats.count:
        record["slices"] = slices
    return record


def window_start_for(now: float, window_s: float = WINDOW_S) -> float:
    """Start of the fixed-rate window containing `now` (windows are aligned on the clock)."""
    return math.floor(now / window_s) * window_s


@dataclass
class _Pending:
    start: float
    end: float
    names: dict[str, NameStats] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    late: int = 0
    slices: SliceCounts = field(default_factory=SliceCounts)


class WindowMerger:
    """Merges per-source window reports into one record per name per window, in time order.

    A window is emitted when every expected source reported it, or `max_lag_s` after it
    ended. A report for a window already emitted is folded into the next emitted window,
    whose `late` field counts such requests (totals stay exact; timing is flagged).
    """

    def __init__(self, window_s: float = WINDOW_S, max_lag_s: float = 1.5) -> None:
        self.window_s = window_s
        self.max_lag_s = max_lag_s
        self._pending: dict[int, _Pending] = {}
        self._last_emitted_key: int | None = None
        self._last_emitted_end = 0.0
        self._late: dict[str, NameStats] = {}
        self._late_count = 0
        self.total_requests = 0

    def _key(self, t_end: float) -> int:
        # key = index of the aligned window this report belongs to; a partial final report
        # (t_end mid-window) joins the window it lies in
        return math.ceil(t_end / self.window_s - 1e-9)

    def add(
        self,
        source: str,
        start: float,
        t_end: float,
        names: Mapping[str, NameStats],
        users: int,
        slices: SliceCounts | None = None,
    ) -> None:
        """Add one source's report covering [start, t_end] (its requests' slices, if any)."""
        added = sum(s.count for s in names.values())
        self.total_requests += added
        key = self._key(t_end)
        if self._last_emitted_key is not None and key <= self._last_emitted_key:
            for name, stats in names.items():
                self._late.setdefault(name, NameStats()).merge(stats)
            self._late_count += added  # in the window they join, but in none of its slices
            return
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(start=start, end=t_end)
        pending.start = min(pending.start, start)
        pending.end = max(pending.end, t_end)
        for name, stats in names.items():
            pending.names.setdefault(name, NameStats()).merge(stats)
        pending.users[source] = users
        pending.sources.add(source)
        if slices is not None:
            pending.slices.merge(slices)

    def ready(self, now: float, expected: Iterable[str]) -> list[dict[str, Any]]:
        """Records of the windows that can be written now, oldest first."""
        wanted = set(expected)
        out: list[dict[str, Any]] = []
        for key in sorted(self._pending):
            pending = self._pending[key]
            complete = bool(wanted) and wanted <= pending.sources
            if not complete and now < pending.end + self.max_lag_s:
                break
            out.extend(self._emit(key))
        return out

    def drain(self) -> list[dict[str, Any]]:
        """Records of every pending window, whatever is missing (used at shutdown)."""
        out: list[dict[str, Any]] = []
        for key in sorted(self._pending):
            out.extend(self._emit(key))
        if self._late_count:
            # nothing left to fold late data into: write it as its own window
            end = self._last_emitted_end
            out.extend(self._records(end, 0.0, {}, 0, fold_late=True))
        return out

    def _emit(self, key: int) -> list[dict[str, Any]]:
        pending = self._pending.pop(key)
        self._last_emitted_key = key
        self._last_emitted_end = pending.end
        return self._records(
            pending.end,
            pending.end - pending.start,
            pending.names,
            sum(pending.users.values()),
            fold_late=True,
            slices=pending.slices.record(key, pending.end),
        )

    def _records(
        self,
        end: float,
        window: float,
        names: dict[str, NameStats],
        users: int,
        fold_late: bool,
        slices: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        late = 0
        if fold_late and self._late_count:
            for name, stats in self._late.items():
                names.setdefault(name, NameStats()).merge(stats)
            late = self._late_count
            self._late = {}
            self._late_count = 0
        total = NameStats()
        records: list[dict[str, Any]] = []
        for name in sorted(names):
            stats = names[name]
            if stats.count == 0:
                continue
            total.merge(stats)
            records.append(window_record(end, window, name, stats, users))
        # the aggregate line is always written, so a second with no traffic reads as 0
        records.append(window_record(end, window, AGGREGATE_NAME, total, users, late, slices))
        return records


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class TrafficWindow:
    """One per-second line of the stats file: one request name over one window."""

    t_mono: float
    window: float
    name: str
    count: int
    ok: int
    shed: int
    circuit: int
    error_5xx: int
    error_other: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    served_by: Mapping[str, int] = field(default_factory=dict, hash=False)
    users: int = 0
    late: int = 0
    hist: Mapping[int, int] = field(default_factory=dict, hash=False, repr=False)  # aggregate only
    slices: WindowSlices | None = field(default=None, hash=False, repr=False)  # aggregate only

    @property
    def t_start(self) -> float:
        """Monotonic start of the window."""
        return self.t_mono - self.window

    @property
    def failures(self) -> int:
        """Requests that did not succeed (shed, circuit-open and errors)."""
        return self.count - self.ok

    @property
    def success_ratio(self) -> float | None:
        """ok / count, or None for a window without requests."""
        return self.ok / self.count if self.count else None

    @property
    def is_aggregate(self) -> bool:
        """True for the line summing every request name."""
        return self.name == AGGREGATE_NAME


@dataclass(frozen=True)
class TrafficEvent:
    """A lifecycle line of the stats file (started, stopping, stopped)."""

    event: str
    t_mono: float
    detail: Mapping[str, Any] = field(default_factory=dict, hash=False)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def parse_line(line: str) -> TrafficWindow | TrafficEvent:
    """Parse one line of the stats file."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise StatsLineError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise StatsLineError("not a JSON object")
    try:
        if "event" in data:
            detail = {k: v for k, v in data.items() if k not in ("event", "t_mono")}
            return TrafficEvent(str(data["event"]), float(data["t_mono"]), detail)
        served = data.get("served_by") or {}
        if not isinstance(served, dict):
            raise StatsLineError("served_by is not an object")
        hist = data.get("hist") or {}
        if not isinstance(hist, dict):
            raise StatsLineError("hist is not an object")
        return TrafficWindow(
            t_mono=float(data["t_mono"]),
            window=float(data["window"]),
            name=str(data["name"]),
            count=int(data["count"]),
            ok=int(data["ok"]),
            shed=int(data["shed"]),
            circuit=int(data["circuit"]),
            error_5xx=int(data["error_5xx"]),
            error_other=int(data["error_other"]),
            p50_ms=_opt_float(data.get("p50_ms")),
            p95_ms=_opt_float(data.get("p95_ms")),
            p99_ms=_opt_float(data.get("p99_ms")),
            max_ms=_opt_float(data.get("max_ms")),
            served_by={str(k): int(v) for k, v in served.items()},
            users=int(data.get("users", 0)),
            late=int(data.get("late", 0)),
            hist=hist_from_json(hist),
            slices=None if data.get("slices") is None else WindowSlices.from_json(data["slices"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, StatsLineError):
            raise
        raise StatsLineError(f"bad stats line: {exc!r}") from exc


def encode_lines(records: Iterable[Mapping[str, Any]]) -> str:
    """Records as JSON lines (one write per second keeps lines whole for the reader)."""
    return "".join(json.dumps(r, separators=(",", ":"), sort_keys=False) + "\n" for r in records)
