"""Per-hop latency of the request path from http probes' Server-Timing, baseline vs faults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...traffic.stats import exact_percentile
from ..timeline import FAULT_INJECTED, Timeline
from .windows import fault_windows

HOP_THRESHOLD_S = 0.2


@dataclass(frozen=True)
class HopStats:
    """Latency of one hop over one period, in seconds."""

    n: int
    p50: float
    p99: float
    max: float


@dataclass(frozen=True)
class HopResult:
    """One hop of the request path: baseline vs each fault window, and whether it went slow."""

    hop: str
    baseline: HopStats | None
    faults: Mapping[str, HopStats]
    p99: float  # worst p99 over fault windows (baseline's when there were none)
    threshold: float
    crossed_in: tuple[str, ...]  # periods ("baseline" or a fault) whose p99 exceeded it

    @property
    def crossed(self) -> bool:
        return bool(self.crossed_in)

    @property
    def crossed_p99(self) -> float:
        """The worst p99 among the periods that crossed the threshold (0 when none did)."""
        periods = {**self.faults, **({"baseline": self.baseline} if self.baseline else {})}
        return max((periods[name].p99 for name in self.crossed_in if name in periods), default=0.0)


def _hop_values(
    hops: Mapping[str, Any], served_by: str | None, hop_desc: Mapping[str, str] | None = None
) -> dict[str, float]:
    """Per-hop durations from a probe's Server-Timing breakdown (cumulative → per hop)."""

    def num(key: str) -> float | None:
        value = hops.get(key)
        return (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )

    api = (served_by or "").split("/", 1)[0] or "api"
    desc = (hop_desc or {}).get("db") or hops.get("db_desc")
    db = desc if isinstance(desc, str) and desc else "db"
    gateway, upstream, api_t, db_t = num("gateway"), num("upstream"), num("api"), num("db")
    out: dict[str, float] = {}
    if gateway is not None and upstream is not None:
        out["gateway"] = max(0.0, gateway - upstream)
    if upstream is not None and api_t is not None:
        out[f"gateway->{api}"] = max(0.0, upstream - api_t)
    if db_t is not None:
        out[f"{api}->{db}"] = db_t
    return out


def _stats(values: Sequence[float]) -> HopStats | None:
    if not values:
        return None
    return HopStats(
        len(values),
        exact_percentile(values, 50) or 0.0,
        exact_percentile(values, 99) or 0.0,
        max(values),
    )


def hop_latency(timeline: Timeline, threshold: float = HOP_THRESHOLD_S) -> list[HopResult]:
    """Per-hop latency from http probes, baseline vs each fault window, worst p99 first."""
    t_inj = min((e.t for e in timeline.events_of(FAULT_INJECTED)), default=None)
    windows = fault_windows(timeline)
    baseline: dict[str, list[float]] = {}
    during: dict[str, dict[str, list[float]]] = {}
    for probe in timeline.probes.values():
        if probe.type != "http":
            continue
        for sample in timeline.samples.get(probe.name, []):
            if not sample.hops:
                continue
            values = _hop_values(sample.hops, sample.served_by, sample.hop_desc)
            for hop, value in values.items():
                if t_inj is None or sample.t < t_inj:
                    baseline.setdefault(hop, []).append(value)
                for fault, a, b in windows:
                    if a <= sample.t <= b:
                        during.setdefault(hop, {}).setdefault(fault, []).append(value)
    results: list[HopResult] = []
    for hop in sorted(set(baseline) | set(during)):
        base = _stats(baseline.get(hop, []))
        per_fault = {f: s for f, vals in sorted(during.get(hop, {}).items()) if (s := _stats(vals))}
        periods: dict[str, HopStats] = dict(per_fault)
        if base is not None:
            periods = {"baseline": base, **per_fault}
        worst = max((s.p99 for s in per_fault.values()), default=base.p99 if base else 0.0)
        crossed = tuple(name for name, s in periods.items() if s.p99 > threshold)
        results.append(HopResult(hop, base, per_fault, worst, threshold, crossed))
    return sorted(results, key=lambda r: (-r.p99, r.hop))
