"""Objective evaluation: every bound in `Objectives` judged against a finished Timeline.

Pure code, no I/O. Missing or inconclusive data fails an objective with a reason; it never
passes. Every measured value carries its error bound (sampling interval, window edges,
histogram resolution) so a report can print `recovery 41.2 s (±0.25 s)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..scenarios.model import AnyFault, GrayReleaseFault, Objectives
from ..scenarios.units import format_duration, format_percent
from ..traffic.stats import (
    HIST_MAX_RELATIVE_ERROR,
    TrafficWindow,
    exact_percentile,
    histogram_percentile,
    merge_histograms,
)
from .milestones import DrillMilestones, derive_milestones
from .timeline import FAULT_INJECTED, FAULT_REVERTED, LEDGER, PHASE, Event, Timeline

Unit = Literal["s", "ratio", "count"]
Verdict = Literal["passed", "failed", "aborted", "error"]
EXIT_CODES: Mapping[str, int] = {"passed": 0, "failed": 1, "aborted": 3, "error": 4}
HOP_THRESHOLD_S = 0.2
CLEAN_AFTER_ROLLBACK_S = 2.0  # traffic without the bad version needed to call it rolled back
FULL_ROLLOUT_SHARE = 0.99  # a canary share this high means the version reached 100%
_EPS = 1e-9


@dataclass(frozen=True)
class ObjectiveResult:
    """One objective judged: the measured value, its error bound, and why it passed or failed."""

    name: str
    bound_text: str
    measured: float | None
    error: float | None
    unit: Unit
    passed: bool
    reason: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def measured_text(self) -> str:
        """The measured value with its error bound, e.g. `41.2s (±250ms)`; `n/a` without data."""
        if self.measured is None:
            return "n/a"
        if self.unit == "ratio":
            # two decimals: more digits than the error bound supports would be false precision
            text = f"{self.measured * 100:.2f}%"
            return text + (f" (±{self.error * 100:.2f}%)" if self.error else "")
        text = _fmt(self.measured, self.unit)
        if self.error:
            text += f" (±{_fmt(self.error, self.unit)})"
        return text


# --------------------------------------------------------------------------- helpers


def _fmt(value: float, unit: Unit) -> str:
    if unit == "s":
        # keep sub-millisecond bounds visible instead of rounding them to "0s"
        return format_duration(round(value, 3) if value >= 0.001 else round(value, 6))
    if unit == "ratio":
        return format_percent(value)
    return f"{value:g}"


def _fail(name: str, bound_text: str, unit: Unit, reason: str, **detail: Any) -> ObjectiveResult:
    return ObjectiveResult(name, bound_text, None, None, unit, False, reason, detail)


def _at_most(
    name: str,
    measured: float,
    error: float | None,
    bound: float,
    unit: Unit,
    what: str,
    **detail: Any,
) -> ObjectiveResult:
    ok = measured <= bound + _EPS
    text = f"≤ {_fmt(bound, unit)}"
    verb = "within" if ok else "over"
    reason = f"{what} {_fmt(measured, unit)}, {verb} the objective {_fmt(bound, unit)}"
    return ObjectiveResult(name, text, measured, error, unit, ok, reason, detail)


def phase_time(timeline: Timeline, name: str) -> float | None:
    """Time of the first `phase` event with that name."""
    event = timeline.first(PHASE, name)
    return None if event is None else event.t


def observation_end(timeline: Timeline) -> float:
    """End of observation: the `verify` phase, else the last thing recorded."""
    verify = phase_time(timeline, "verify")
    if verify is not None:
        return verify
    times = [e.t for e in timeline.events]
    times += [w.t_mono for w in timeline.traffic]
    times += [s.t for samples in timeline.samples.values() for s in samples]
    return max(times, default=0.0)


def aggregate_windows(timeline: Timeline, start: float, end: float) -> list[TrafficWindow]:
    """Aggregate traffic windows overlapping [start, end], in time order."""
    return _windows(timeline.traffic, start, end, None)


def _windows(
    traffic: Iterable[TrafficWindow], start: float, end: float, names: set[str] | None
) -> list[TrafficWindow]:
    chosen = [
        w
        for w in traffic
        if (w.is_aggregate if names is None else w.name in names)
        and w.t_mono > start + _EPS
        and w.t_start < end - _EPS
    ]
    return sorted(chosen, key=lambda w: (w.t_mono, w.name))


def _edge_share(windows: Sequence[TrafficWindow], start: float, end: float) -> float:
    """Share of requests in windows that only partly overlap [start, end]."""
    total = sum(w.count for w in windows)
    if not total:
        return 0.0
    partial = sum(w.count for w in windows if w.t_start < start - _EPS or w.t_mono > end + _EPS)
    return partial / total


def _fault_action(event: Event, faults: Sequence[AnyFault]) -> str | None:
    action = event.detail.get("action")
    if isinstance(action, str):
        return action
    for fault in faults:
        if fault.label() == event.name:
            return str(getattr(fault, "action", ""))
    return None


def _fault_named(name: str, faults: Sequence[AnyFault]) -> AnyFault | None:
    return next((f for f in faults if f.label() == name), None)


def _revert_of(timeline: Timeline, injected: Event) -> Event | None:
    reverts = [e for e in timeline.events_of(FAULT_REVERTED, injected.name) if e.t >= injected.t]
    return min(reverts, key=lambda e: e.t) if reverts else None


def fault_windows(timeline: Timeline) -> list[tuple[str, float, float]]:
    """(fault, injected at, reverted at or end of observation) for every injected fault."""
    end = observation_end(timeline)
    out: list[tuple[str, float, float]] = []
    for event in sorted(timeline.events_of(FAULT_INJECTED), key=lambda e: e.t):
        revert = _revert_of(timeline, event)
        out.append((event.name, event.t, end if revert is None else max(revert.t, event.t)))
    return out


# --------------------------------------------------------------------------- time objectives


def recovery_time(ms: DrillMilestones, bound: float) -> ObjectiveResult:
    """recovered − t_inj; error = sampling interval + time to apply the first fault."""
    text = f"≤ {format_duration(bound)}"
    if ms.t_inj is None:
        return _fail("recovery_time", text, "s", "no fault was injected")
    if ms.recovered is None:
        return _fail(
            "recovery_time", text, "s", "never recovered within the deadline", impact=_t(ms.impact)
        )
    value = ms.recovered.t - ms.t_inj
    return _at_most(
        "recovery_time",
        value,
        ms.recovered.bound + ms.apply_s(),
        bound,
        "s",
        "recovered after",
        recovered_at=ms.recovered.t,
        injected_at=ms.t_inj,
        confirmed_at=ms.recovered.detail.get("confirmed_at"),
        impacted=ms.recovered.detail.get("impacted"),
    )


def _t(milestone: Any) -> float | None:
    return None if milestone is None else float(milestone.t)


def failover_time(ms: DrillMilestones, bound: float) -> ObjectiveResult:
    """failover.completed − t_inj: recovery while the fault was still in force."""
    text = f"≤ {format_duration(bound)}"
    if ms.t_inj is None:
        return _fail("failover_time", text, "s", "no fault was injected")
    if ms.recovered is None:
        return _fail("failover_time", text, "s", "never recovered within the deadline")
    if ms.failover is None:
        return _fail(
            "failover_time",
            text,
            "s",
            "recovered only after the fault was reverted",
            recovered_at=ms.recovered.t,
        )
    return _at_most(
        "failover_time",
        ms.failover.t - ms.t_inj,
        ms.failover.bound + ms.apply_s(),
        bound,
        "s",
        "failed over after",
        failover_at=ms.failover.t,
        injected_at=ms.t_inj,
        fault_reverted_at=ms.failover.detail.get("fault_reverted_at"),
    )


def detection_time(ms: DrillMilestones, bound: float) -> ObjectiveResult:
    """detected − t_inj: the first firing alert received after injection."""
    text = f"≤ {format_duration(bound)}"
    if ms.t_inj is None:
        return _fail("detection_time", text, "s", "no fault was injected")
    if ms.detected is None:
        return _fail("detection_time", text, "s", "no alert received")
    return _at_most(
        "detection_time",
        ms.detected.t - ms.t_inj,
        ms.detected.bound + ms.apply_s(),
        bound,
        "s",
        "first alert after",
        alert=ms.detected.detail.get("alert"),
        detected_at=ms.detected.t,
    )


# --------------------------------------------------------------------------- data loss


def _pairs(value: Any) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    for item in value or []:
        seq, t = item
        out.append((int(seq), float(t)))
    return out


def ledger_interval(timeline: Timeline, event: Event | None = None) -> float | None:
    """Write interval of the ledger: the event's own `interval`, else the ledger probe's."""
    if event is not None and isinstance(event.detail.get("interval"), int | float):
        return float(event.detail["interval"])
    ledgers = [p.every for p in timeline.probes.values() if p.type == "ledger"]
    return max(ledgers) if ledgers else None


def data_loss(timeline: Timeline, max_writes: int, max_span: float | None) -> ObjectiveResult:
    """Acknowledged ledger writes missing afterwards, as a count and the time span they cover."""
    text = f"≤ {max_writes} writes" + (
        f", span ≤ {format_duration(max_span)}" if max_span is not None else ""
    )
    event = timeline.first(LEDGER)
    if event is None:
        return _fail("data_loss", text, "count", "no ledger data")
    if event.detail.get("error"):
        # nothing read back is not nothing lost
        return _fail(
            "data_loss",
            text,
            "count",
            f"unknown: the ledger could not be read back ({event.detail['error']})",
        )
    acked = _pairs(event.detail.get("acked"))
    missing = sorted(_pairs(event.detail.get("missing")), key=lambda p: (p[1], p[0]))
    if not acked:
        return _fail("data_loss", text, "count", "no ledger data: no write was acknowledged")
    span = missing[-1][1] - missing[0][1] if missing else 0.0
    interval = ledger_interval(timeline, event)
    ok_count = len(missing) <= max_writes
    ok_span = max_span is None or span <= max_span + _EPS
    if ok_count and ok_span:
        reason = f"{len(missing)} of {len(acked)} acknowledged writes missing, within the objective"
    elif not ok_count:
        reason = f"{len(missing)} acknowledged writes missing, over the objective {max_writes}"
    else:
        reason = (
            f"lost writes span {format_duration(round(span, 3))}, "
            f"over the objective {format_duration(max_span or 0.0)}"
        )
    return ObjectiveResult(
        "data_loss",
        text,
        float(len(missing)),
        0.0,
        "count",
        ok_count and ok_span,
        reason,
        {
            "acked": len(acked),
            "missing": len(missing),
            "span_s": span,
            "span_error_s": interval,
            "first_missing": list(missing[0]) if missing else None,
            "last_missing": list(missing[-1]) if missing else None,
            "missing_seqs": [seq for seq, _ in missing[:1000]],
        },
    )


# --------------------------------------------------------------------------- traffic objectives


def availability(timeline: Timeline, minimum: float) -> ObjectiveResult:
    """ok / count over aggregate windows from baseline end (`inject` phase) to `verify`."""
    text = f"≥ {format_percent(minimum)}"
    start = phase_time(timeline, "inject")
    if start is None:
        start = next(
            (e.t for e in sorted(timeline.events_of(FAULT_INJECTED), key=lambda e: e.t)), None
        )
    if start is None:
        return _fail(
            "availability", text, "ratio", "no drill window: the drill never reached inject"
        )
    end = observation_end(timeline)
    windows = aggregate_windows(timeline, start, end)
    total = sum(w.count for w in windows)
    if not total:
        return _fail("availability", text, "ratio", "no traffic data in the drill window")
    ok = sum(w.ok for w in windows)
    value = ok / total
    passed = value >= minimum - _EPS
    reason = (
        f"{format_percent(value)} of {total} requests succeeded, "
        f"{'meeting' if passed else 'below'} the objective {format_percent(minimum)}"
    )
    return ObjectiveResult(
        "availability",
        text,
        value,
        _edge_share(windows, start, end),
        "ratio",
        passed,
        reason,
        {
            "from": start,
            "to": end,
            "requests": total,
            "ok": ok,
            "failed": total - ok,
            "windows": len(windows),
        },
    )


def p99_after_recovery(timeline: Timeline, ms: DrillMilestones, bound: float) -> ObjectiveResult:
    """p99 of every request in the windows wholly after `recovered`, from their pooled histograms."""
    text = f"≤ {format_duration(bound)}"
    if ms.recovered is None:
        return _fail("p99_latency", text, "s", "never recovered, so no latency after recovery")
    start = ms.recovered.t
    end = observation_end(timeline)
    windows = [
        w
        for w in aggregate_windows(timeline, start, end)
        if w.t_start >= start - _EPS and w.t_mono <= end + _EPS and w.p99_ms is not None
    ]
    if not windows:
        return _fail("p99_latency", text, "s", "no traffic data after recovery")
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
    return _at_most(
        "p99_latency", value, value * HIST_MAX_RELATIVE_ERROR, bound, "s", what, **detail
    )


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
        return self.last_bad_end is not None and self.clean_after_s >= CLEAN_AFTER_ROLLBACK_S - _EPS

    @property
    def reached_full(self) -> bool:
        return self.max_share >= FULL_ROLLOUT_SHARE


def gray_release(timeline: Timeline, faults: Sequence[AnyFault]) -> GrayRelease | None:
    """The first gray release's traffic picture, or None when there was none."""
    for event in sorted(timeline.events_of(FAULT_INJECTED), key=lambda e: e.t):
        if _fault_action(event, faults) != "gray-release":
            continue
        fault = _fault_named(event.name, faults)
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
        return _fail("rollback_time", text, "s", "no gray release in the timeline")
    detail: dict[str, Any] = {
        "version": rel.version,
        "released_at": rel.t_release,
        "max_canary_share": rel.max_share,
        "requests_to_version": rel.reached_bad,
        "last_seen_at": rel.last_bad_end,
        "clean_traffic_after_s": rel.clean_after_s,
    }
    if rel.last_bad_end is None:
        return _fail(
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
        return _fail("rollback_time", text, "s", why, **detail)
    return _at_most(
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
        return _fail("blast_radius", text, "ratio", "no gray release in the timeline")
    if not rel.total:
        return _fail("blast_radius", text, "ratio", "no traffic data after the release started")
    value = min(1.0, (rel.failed + rel.reached_bad) / rel.total)
    passed = value <= maximum + _EPS
    return ObjectiveResult(
        "blast_radius",
        text,
        value,
        _edge_share(rel.windows, rel.t_release, rel.end),
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


def _surge(timeline: Timeline, faults: Sequence[AnyFault]) -> tuple[str, float, float, bool] | None:
    for event in sorted(timeline.events_of(FAULT_INJECTED), key=lambda e: e.t):
        if _fault_action(event, faults) == "load-surge":
            revert = _revert_of(timeline, event)
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
        return _fail("protected_success", text, "ratio", "no load surge in the timeline")
    name, start, end, _ = surge
    windows = _windows(timeline.traffic, start, end, set(requests))
    total = sum(w.count for w in windows)
    if not total:
        return _fail(
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
            "passed": sums["ok"] / total >= minimum - _EPS,
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
                    "passed": share <= limit + _EPS,
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
        _edge_share(windows, start, end),
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
        return _fail("breakers_close_within", text, "s", "no load surge in the timeline")
    name, _, surge_end, reverted = surge
    if not reverted:
        return _fail("breakers_close_within", text, "s", "the surge never ended", surge=name)
    end = observation_end(timeline)
    after = [w for w in aggregate_windows(timeline, surge_end, end) if w.count > 0]
    if not after:
        return _fail(
            "breakers_close_within", text, "s", "no traffic data after the surge", surge=name
        )
    open_windows = [w for w in after if w.circuit > 0]
    if open_windows and open_windows[-1] is after[-1]:
        return _fail(
            "breakers_close_within",
            text,
            "s",
            "breakers still failing fast at the end of observation",
            surge=name,
            last_open_at=after[-1].t_mono,
        )
    value = max(0.0, open_windows[-1].t_mono - surge_end) if open_windows else 0.0
    return _at_most(
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


# --------------------------------------------------------------------------- all of them


def evaluate_objectives(
    timeline: Timeline,
    objectives: Objectives,
    *,
    stable_for: float,
    min_traffic_success: float | None = None,
    faults: Sequence[AnyFault] = (),
    milestones: DrillMilestones | None = None,
) -> list[ObjectiveResult]:
    """Judge every objective that is set, in a fixed order."""
    ms = milestones or derive_milestones(timeline, stable_for, min_traffic_success)
    out: list[ObjectiveResult] = []
    if objectives.recovery_time is not None:
        out.append(recovery_time(ms, objectives.recovery_time))
    if objectives.failover_time is not None:
        out.append(failover_time(ms, objectives.failover_time))
    if objectives.detection_time is not None:
        out.append(detection_time(ms, objectives.detection_time))
    if objectives.data_loss is not None:
        out.append(
            data_loss(timeline, objectives.data_loss.max_writes, objectives.data_loss.max_span)
        )
    if objectives.availability is not None:
        out.append(availability(timeline, objectives.availability))
    if objectives.p99_latency is not None:
        out.append(p99_after_recovery(timeline, ms, objectives.p99_latency))
    if objectives.rollback_time is not None:
        out.append(rollback_time(timeline, faults, objectives.rollback_time))
    if objectives.blast_radius is not None:
        out.append(blast_radius(timeline, faults, objectives.blast_radius))
    ps = objectives.protected_success
    if ps is not None:
        out.append(
            protected_success(
                timeline, faults, ps.requests, ps.min, ps.max_shed, ps.max_5xx, ps.max_circuit
            )
        )
        if ps.breakers_close_within is not None:
            out.append(breakers_close_within(timeline, faults, ps.breakers_close_within))
    return out


def overall_verdict(
    results: Iterable[ObjectiveResult], aborted: bool, error: str | None
) -> Verdict:
    """`error` if the drill could not run, `aborted` on a guardrail, else passed/failed."""
    if error:
        return "error"
    if aborted:
        return "aborted"
    return "passed" if all(r.passed for r in results) else "failed"


def exit_code(verdict: str) -> int:
    """Process exit code of a verdict: passed 0, failed 1, aborted 3, error 4."""
    return EXIT_CODES[verdict]


def deviations(results: Iterable[ObjectiveResult], abort_reason: str | None = None) -> list[str]:
    """One line per failed objective (and the abort), for the report's deviations section."""
    lines = [f"{r.name} ({r.bound_text}): {r.reason}" for r in results if not r.passed]
    if abort_reason:
        lines.append(f"aborted: {abort_reason}")
    return lines


# --------------------------------------------------------------------------- hop latency


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
