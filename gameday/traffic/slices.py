"""Requests per 25 ms slice of a traffic window: when each request completed, finer than 1 s.

Pure code, like `gameday.traffic.stats`. Every aggregate window carries its requests in
SLICES_PER_WINDOW slices (`SliceCounts` while accumulating, `WindowSlices` when read): ok
and failed counts per slice, and per served version for the versions that served only part
of them. An objective that counts requests inside a drill window (availability, blast
radius, rollback time) then errs by the requests of at most one slice at each edge instead
of a whole second.

Size: 40 small integers per aggregate window (plus a list per version while two versions
share the traffic), about 100-200 bytes a second in report.json, 9-17 MB for 24 hours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

WINDOW_S = 1.0
SLICES_PER_WINDOW = 40  # 25 ms slices: ≤ 0.05 s of a drill window's requests are uncertain
SLICE_S = WINDOW_S / SLICES_PER_WINDOW


class StatsLineError(ValueError):
    """A stats-file line that is not valid."""


def version_of(served_by: str) -> str:
    """The version part of an X-Served-By value (``api-canary/v2-faulty`` → ``v2-faulty``)."""
    return served_by.rsplit("/", 1)[-1]


def slice_key(t: float) -> int:
    """The grid slice holding a completion time: slice k covers ((k-1)·SLICE_S, k·SLICE_S]."""
    return math.ceil(t * SLICES_PER_WINDOW / WINDOW_S)


def window_key_of_slice(key: int) -> int:
    """The window (key w covers ((w-1)·WINDOW_S, w·WINDOW_S]) holding a grid slice."""
    return -(-key // SLICES_PER_WINDOW)


@dataclass
class SliceCounts:
    """Mutable per-slice counters of one window's requests (all names), keyed by grid slice.

    Keys are absolute grid slices (`slice_key`), so reports from several workers merge
    exactly; `record` writes them relative to the window.
    """

    ok: dict[int, int] = field(default_factory=dict)
    failed: dict[int, int] = field(default_factory=dict)
    served: dict[str, dict[int, int]] = field(default_factory=dict)  # version -> slice -> n

    def add(self, key: int, ok: bool, served_by: str | None) -> None:
        """Count one request completed in grid slice `key`."""
        counter = self.ok if ok else self.failed
        counter[key] = counter.get(key, 0) + 1
        if served_by:
            per = self.served.setdefault(version_of(served_by), {})
            per[key] = per.get(key, 0) + 1

    def merge(self, other: SliceCounts) -> None:
        """Add another accumulator's counts into this one."""
        for mine, theirs in ((self.ok, other.ok), (self.failed, other.failed)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        for version, per in other.served.items():
            into = self.served.setdefault(version, {})
            for key, n in per.items():
                into[key] = into.get(key, 0) + n

    def to_wire(self) -> dict[str, Any]:
        """Plain dict for Locust's master/worker messages (msgpack: string keys only)."""

        def keyed(d: Mapping[int, int]) -> dict[str, int]:
            return {str(k): n for k, n in d.items()}

        return {
            "ok": keyed(self.ok),
            "failed": keyed(self.failed),
            "served": {v: keyed(per) for v, per in self.served.items()},
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any] | None) -> SliceCounts:
        """Inverse of `to_wire` (an empty accumulator for None)."""
        d = data or {}

        def unkeyed(x: Any) -> dict[int, int]:
            return {int(k): int(n) for k, n in dict(x or {}).items()}

        return cls(
            unkeyed(d.get("ok")),
            unkeyed(d.get("failed")),
            {str(v): unkeyed(per) for v, per in dict(d.get("served") or {}).items()},
        )

    def record(self, window_key: int, t_end: float) -> dict[str, Any]:
        """The ``slices`` object of the aggregate line of window `window_key` ending at `t_end`.

        ``ok`` (and ``failed`` when any failed): counts per slice, oldest first, for the
        SLICES_PER_WINDOW slices of the grid second ending at ``t_mono + end`` (``end`` is
        written only for a window cut short, the last one). ``only``: the version that
        served every request; else ``served``: per-slice counts of each version that served
        some. Requests of other windows (`late`) are in no slice.
        """
        first = (window_key - 1) * SLICES_PER_WINDOW + 1
        keys = range(first, first + SLICES_PER_WINDOW)
        ok = [self.ok.get(k, 0) for k in keys]
        failed = [self.failed.get(k, 0) for k in keys]
        total = sum(ok) + sum(failed)
        out: dict[str, Any] = {"ok": ok}
        if any(failed):
            out["failed"] = failed
        served: dict[str, list[int]] = {}
        for version in sorted(self.served):
            per = [self.served[version].get(k, 0) for k in keys]
            n = sum(per)
            if n and n == total:
                out["only"] = version
            elif n:
                served[version] = per
        if served:
            out["served"] = served
        end = round(window_key * WINDOW_S - t_end, 6)
        if end > 0:
            out["end"] = end
        return out


def _int_tuple(data: Any, what: str) -> tuple[int, ...]:
    if not isinstance(data, list):
        raise StatsLineError(f"{what} is not a list")
    return tuple(int(n) for n in data)


@dataclass(frozen=True)
class WindowSlices:
    """An aggregate window's requests per slice (`SliceCounts.record`, read back).

    Slice i covers (g + i·s, g + (i+1)·s] ∩ (t_start, t_mono], where s = WINDOW_S / n,
    n = len(ok) and g = t_mono + end − WINDOW_S: the grid second the window lies in.
    """

    ok: tuple[int, ...]
    failed: tuple[int, ...] = ()
    served: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    only: str | None = None
    end: float = 0.0

    def __post_init__(self) -> None:
        if not self.ok:
            raise StatsLineError("slices.ok is empty")
        n = len(self.ok)
        if self.failed and len(self.failed) != n:
            raise StatsLineError("slices.failed and slices.ok differ in length")
        if any(len(v) != n for v in self.served.values()):
            raise StatsLineError("slices.served and slices.ok differ in length")

    def __len__(self) -> int:
        return len(self.ok)

    def failed_at(self, i: int) -> int:
        """Failed requests in slice i."""
        return self.failed[i] if self.failed else 0

    def count_at(self, i: int) -> int:
        """Requests in slice i."""
        return self.ok[i] + self.failed_at(i)

    def total(self) -> int:
        """Requests in every slice (the window's count less its `late` requests)."""
        return sum(self.ok) + sum(self.failed)

    def version_at(self, i: int, version: str) -> int:
        """Requests in slice i served by `version`."""
        if version == self.only:
            return self.count_at(i)
        per = self.served.get(version)
        return per[i] if per is not None else 0

    def bounds(self, t_mono: float, window: float, i: int) -> tuple[float, float]:
        """(a, b): slice i holds requests completed in (a, b]."""
        width = WINDOW_S / len(self.ok)
        grid = t_mono + self.end - WINDOW_S
        b = min(t_mono, grid + (i + 1) * width)
        return min(b, max(t_mono - window, grid + i * width)), b  # past the window: empty

    def to_json(self) -> dict[str, Any]:
        """The JSON object (as the stats file and report.json hold it)."""
        out: dict[str, Any] = {"ok": list(self.ok)}
        if self.failed:
            out["failed"] = list(self.failed)
        if self.only is not None:
            out["only"] = self.only
        if self.served:
            out["served"] = {v: list(per) for v, per in self.served.items()}
        if self.end:
            out["end"] = self.end
        return out

    @classmethod
    def from_json(cls, data: Any) -> WindowSlices:
        """Inverse of `to_json`."""
        if not isinstance(data, dict):
            raise StatsLineError("slices is not an object")
        served = data.get("served") or {}
        if not isinstance(served, dict):
            raise StatsLineError("slices.served is not an object")
        only = data.get("only")
        return cls(
            ok=_int_tuple(data.get("ok"), "slices.ok"),
            failed=_int_tuple(data["failed"], "slices.failed") if "failed" in data else (),
            served={str(v): _int_tuple(per, "slices.served") for v, per in served.items()},
            only=None if only is None else str(only),
            end=float(data.get("end", 0.0)),
        )
