"""Synthetic timelines for the pure-core tests: probes at fixed intervals, traffic per second."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gameday.analysis.timeline import (
    FAULT_INJECTED,
    FAULT_REVERTED,
    PHASE,
    Clock,
    ProbeInfo,
    Sample,
    Timeline,
)
from gameday.traffic.stats import TrafficWindow

T0 = 1000.0  # monotonic start of every synthetic drill (not 0, so offsets are exercised)
Spans = Sequence[tuple[float, float]]


def timeline(start: float = T0) -> Timeline:
    """An empty timeline whose clock started at `start`."""
    return Timeline(Clock(start, datetime(2024, 3, 1, 12, 0, tzinfo=UTC)))


def inside(t: float, spans: Spans) -> bool:
    return any(a <= t < b for a, b in spans)


def probe(
    tl: Timeline,
    name: str,
    every: float,
    start: float,
    end: float,
    fail: Spans = (),
    phase: float = 0.0,
    role: str = "steady",
    type_: str = "http",
    hops: Callable[[float], Mapping[str, Any] | None] | None = None,
    served_by: Callable[[float], str | None] | None = None,
) -> list[Sample]:
    """Samples every `every` s from start+phase until end, failing inside `fail` spans [a, b)."""
    tl.add_probe(ProbeInfo(name, type_, every, role))  # type: ignore[arg-type]
    out = []
    k = 0
    while True:
        t = round(start + phase + k * every, 9)
        if t >= end:
            break
        s = Sample(
            name,
            t,
            not inside(t, fail),
            latency=0.01,
            hops=hops(t) if hops else None,
            served_by=served_by(t) if served_by else None,
        )
        tl.add_sample(s)
        out.append(s)
        k += 1
    return out


def window(
    t_end: float,
    name: str = "*",
    count: int = 100,
    ok: int | None = None,
    shed: int = 0,
    circuit: int = 0,
    error_5xx: int = 0,
    p99_ms: float | None = 20.0,
    served_by: Mapping[str, int] | None = None,
    length: float = 1.0,
    max_ms: float | None = None,
    hist: Mapping[int, int] | None = None,
) -> TrafficWindow:
    """One traffic window; failures not given as shed/circuit/5xx are `error_other`."""
    ok = count - shed - circuit - error_5xx if ok is None else ok
    other = count - ok - shed - circuit - error_5xx
    return TrafficWindow(
        t_mono=t_end,
        window=length,
        name=name,
        count=count,
        ok=ok,
        shed=shed,
        circuit=circuit,
        error_5xx=error_5xx,
        error_other=other,
        p50_ms=None if count == 0 else 5.0,
        p95_ms=None if count == 0 else 10.0,
        p99_ms=None if count == 0 else p99_ms,
        max_ms=None if count == 0 else max_ms or (p99_ms or 0.0) * 1.5,
        served_by=dict(served_by or {}),
        users=10,
        hist=dict(hist or {}),
    )


def traffic(
    tl: Timeline,
    start: float,
    end: float,
    make: Callable[[float], Mapping[str, Any]] | None = None,
    name: str = "*",
) -> None:
    """One window per second ending at start+1 … end; `make(t_end)` gives window() kwargs."""
    t = start + 1.0
    while t <= end + 1e-9:
        tl.add_traffic(window(t, name=name, **(make(t) if make else {})))
        t += 1.0


def fault(
    tl: Timeline,
    name: str,
    at: float,
    until: float | None = None,
    apply_s: float = 0.05,
    revert_s: float = 0.02,
    **detail: Any,
) -> None:
    tl.add_event(at, FAULT_INJECTED, name, apply_s=apply_s, **detail)
    if until is not None:
        tl.add_event(until, FAULT_REVERTED, name, revert_s=revert_s)


def phases(tl: Timeline, **times: float) -> None:
    for name, t in times.items():
        tl.add_event(t, PHASE, name)
