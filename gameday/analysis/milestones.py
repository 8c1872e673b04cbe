"""Milestones derived from a Timeline, and the steady-state evaluator behind them.

Pure code, no I/O. A state change (impact, recovery, failover) happened between the last
observation that still saw the old state and the first that saw the new one: its bracket.
The milestone is the bracket's midpoint and its error bound half the bracket's width
(docs/architecture.md, "Measurement"). `SteadyTracker` is the one definition of "the
steady state holds" (`steady.py`, re-exported here): the engine feeds it live,
`recovery()` replays it over the finished timeline, so the live view and the report cannot
disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..traffic.stats import AGGREGATE_NAME
from .steady import (  # the steady-state evaluator, re-exported: callers import it from here
    TRAFFIC_STREAM,
    tracker_for,
    traffic_healthy,
)
from .steady import SteadyTracker as SteadyTracker
from .steady import holds_for as holds_for
from .steady import steady_since as steady_since
from .timeline import (
    ALERT,
    FAULT_INJECTED,
    FAULT_REVERTED,
    GUARDRAIL,
    MANUAL,
    Event,
    Sample,
    Timeline,
)

IMPACT_STARTED = "impact.started"
RECOVERED = "recovered"
FAILOVER_COMPLETED = "failover.completed"
DETECTED = "detected"
ALERT_BOUND_S = 0.01  # alerts are timed when the webhook receives them
_EPS = 1e-9  # float slack when comparing sums of grid times


@dataclass(frozen=True)
class Milestone:
    """A moment on the timeline, with its error bound in seconds."""

    name: str
    t: float
    bound: float
    detail: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- milestones


def _bound(event: Event, key: str) -> float:
    value = event.detail.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def injection_time(timeline: Timeline) -> float | None:
    """Time of the first `fault.injected` event: t_inj, the origin of every objective."""
    first = timeline.first(FAULT_INJECTED)
    return None if first is None else first.t


def injection_bound(event: Event) -> float:
    """Uncertainty of an injection instant: how long the act took (`act_s`), else `apply_s`.

    `act_s` is the driver's act call alone (signal sent, rule installed, API call accepted);
    reports written before it existed only have `apply_s`, which includes confirming.
    """
    return _bound(event, "act_s" if "act_s" in event.detail else "apply_s")


def fault_milestones(timeline: Timeline) -> list[Milestone]:
    """`fault.injected` / `fault.reverted`, bounded by how long the driver's act took."""
    out: list[Milestone] = []
    for event in timeline.events:
        if event.kind == FAULT_INJECTED:
            detail: dict[str, Any] = {"fault": event.name}
            if "confirmed_at" in event.detail:
                detail["confirmed_at"] = event.detail["confirmed_at"]
            out.append(Milestone(FAULT_INJECTED, event.t, injection_bound(event), detail))
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


# --------------------------------------------------------------------------- brackets


class _Point(NamedTuple):
    """One observation of a steady-state stream, for brackets.

    `key`: where the tracker judges it (a probe's send time, a traffic second's end);
    [`lo`, `hi`]: the span in which it saw what it saw (send → answer or error; the second).
    """

    key: float
    lo: float
    hi: float
    ok: bool
    detail: str


def answered_at(sample: Sample) -> float:
    """When a sample's observation ended: its answer, else its error or timeout, else its send."""
    if sample.latency is not None:
        return sample.t + sample.latency
    if sample.ended is not None:
        return sample.t + sample.ended
    return sample.t  # older reports: nothing recorded after the send


def _stream_points(
    timeline: Timeline, min_traffic_success: float | None, until: float | None
) -> dict[str, list[_Point]]:
    """Each steady-state stream's observations up to `until`, in tracker order."""
    out: dict[str, list[_Point]] = {}
    for probe in timeline.steady_probes():
        pts = [
            _Point(s.t, s.t, answered_at(s), s.ok, s.detail)
            for s in timeline.samples.get(probe.name, [])
            if until is None or s.t <= until
        ]
        out[probe.name] = sorted(pts, key=lambda p: p.key)
    if min_traffic_success is not None:
        pts = []
        for w in timeline.traffic:
            if w.name != AGGREGATE_NAME or (until is not None and w.t_mono > until):
                continue
            ok = traffic_healthy(w, min_traffic_success)
            ratio = w.success_ratio
            what = "no requests" if ratio is None else f"{ratio * 100:.2f}% of {w.count} ok"
            pts.append(_Point(w.t_mono, w.t_start, w.t_mono, ok, what))
        out[TRAFFIC_STREAM] = sorted(pts, key=lambda p: p.key)
    return out


def _half(name: str, lo: float, hi: float, detail: dict[str, Any]) -> Milestone:
    """The milestone at the bracket's midpoint, bounded by half its width."""
    return Milestone(name, (lo + hi) / 2, (hi - lo) / 2, {"bracket": [lo, hi], **detail})


def impact_started(
    timeline: Timeline,
    t_inj: float,
    min_traffic_success: float | None = None,
    until: float | None = None,
) -> Milestone | None:
    """When the steady state first broke after injection, bracketed per stream.

    A stream's impact lies between its last passing observation before its first failing
    one at or after injection (not before the injection) and the end of that failing one
    (its error or timeout came back). The drill's impact is the earliest stream's: the
    bracket runs from the smallest lower edge to the smallest upper edge.
    """
    los: list[float] = []
    best: tuple[float, str, _Point] | None = None
    for stream, pts in _stream_points(timeline, min_traffic_success, until).items():
        last_pass: _Point | None = None
        for p in pts:
            if p.key < t_inj or p.ok:
                if p.ok:
                    last_pass = p
                continue
            los.append(t_inj if last_pass is None else max(t_inj, last_pass.lo))
            if best is None or p.hi < best[0]:
                best = (p.hi, stream, p)
            break
    if best is None:
        return None
    hi, stream, first = best
    return _half(
        IMPACT_STARTED,
        min(los),
        hi,
        {"probe": stream, "decided_by": stream, "first_failure": first.key, "detail": first.detail},
    )


def _recovery_bracket(
    points: Mapping[str, list[_Point]], t_inj: float, start: float
) -> tuple[float, str, float, str]:
    """(lo, its stream, hi, its stream) of a recovery whose passing run starts at `start`.

    Lower edge: the last failing observation of any stream before the run (the system was
    still broken then). Upper edge: each stream that failed recovered by the end of its
    first passing observation after its own last failure; the steady state holds once the
    last of them has, so the latest such answer.
    """
    lo, lo_by, hi, hi_by = t_inj, "", t_inj, ""
    for stream, pts in points.items():
        last_fail: int | None = None
        for i, p in enumerate(pts):
            if p.key >= start:
                break
            if p.key >= t_inj and not p.ok:
                last_fail = i
        if last_fail is None:
            continue
        fail = pts[last_fail]
        first_pass = next((p for p in pts[last_fail + 1 :] if p.ok), None)
        if not lo_by or max(fail.lo, t_inj) > lo:
            lo, lo_by = max(fail.lo, t_inj), stream
        if first_pass is not None and (not hi_by or first_pass.hi > hi):
            hi, hi_by = first_pass.hi, stream
    return lo, lo_by, max(hi, lo), hi_by


@dataclass(frozen=True)
class Relapse:
    """A complete `stable_for` window after injection that a later impact ended."""

    recovered_at: float  # start of the window
    confirmed_at: float
    impact_at: float  # the failing observation that ended it
    stream: str

    def to_json(self) -> dict[str, Any]:
        return {
            "recovered_at": self.recovered_at,
            "confirmed_at": self.confirmed_at,
            "impact_at": self.impact_at,
            "stream": self.stream,
        }


@dataclass(frozen=True)
class Recovery:
    """What the replay of the steady state after injection found."""

    milestone: Milestone | None  # after the last impact; None when it never held again
    impacted: bool  # any steady-state stream failed after injection
    observed: bool  # every steady-state stream was observed after injection
    relapses: tuple[Relapse, ...]
    last_impact: float | None  # the last failing observation's time


def recovery(
    timeline: Timeline,
    t_inj: float,
    stable_for: float,
    min_traffic_success: float | None = None,
    until: float | None = None,
) -> Recovery:
    """Replay the steady state after injection (up to `until`, the end of observation).

    The recovery is the first complete `stable_for` window after the LAST failing
    observation; complete windows that an impact ended are relapses, not recoveries.
    """
    tracker = tracker_for(
        timeline, stable_for, min_traffic_success=min_traffic_success, after=t_inj, until=until
    )
    points = _stream_points(timeline, min_traffic_success, until)
    observed = bool(points) and all(any(p.key >= t_inj for p in pts) for pts in points.values())
    relapses = tuple(Relapse(*r) for r in tracker.relapses)
    last = tracker.last_failure
    impacted = tracker.failures > 0
    window = tracker.window
    milestone: Milestone | None = None
    if window is not None:
        start, confirmed = window
        detail: dict[str, Any] = {
            "confirmed_at": confirmed,
            "stable_for": stable_for,
            "impacted": impacted,
            "window_start": start,
        }
        if relapses:
            detail["relapses"] = [r.to_json() for r in relapses]
        if not impacted:
            # nothing to recover from: the steady state held from the injection on
            detail["note"] = "no impact observed"
            milestone = Milestone(RECOVERED, t_inj, 0.0, detail)
        else:
            lo, lo_by, hi, hi_by = _recovery_bracket(points, t_inj, start)
            detail["decided_by"] = hi_by
            detail["last_failure_by"] = lo_by
            milestone = _half(RECOVERED, lo, hi, detail)
    return Recovery(milestone, impacted, observed, relapses, None if last is None else last[0])


def recovered(
    timeline: Timeline,
    t_inj: float,
    stable_for: float,
    min_traffic_success: float | None = None,
    until: float | None = None,
) -> Milestone | None:
    """The recovery after the last impact (see `recovery`), or None."""
    return recovery(timeline, t_inj, stable_for, min_traffic_success, until).milestone


def first_revert_after(timeline: Timeline, t_inj: float) -> Event | None:
    """The first `fault.reverted` of a fault injected at or after `t_inj`."""
    injected = {e.name for e in timeline.events_of(FAULT_INJECTED) if e.t >= t_inj}
    reverts = [e for e in timeline.events_of(FAULT_REVERTED) if e.name in injected]
    return min(reverts, key=lambda e: e.t) if reverts else None


def failover_completed(
    timeline: Timeline, t_inj: float, recovery: Milestone | None
) -> Milestone | None:
    """`recovered`, when its whole bracket lies while the fault was still in force."""
    if recovery is None:
        return None
    revert = first_revert_after(timeline, t_inj)
    bracket = recovery.detail.get("bracket")
    upper = recovery.t + recovery.bound if bracket is None else float(bracket[1])
    if revert is not None and upper > revert.t + _EPS:
        return None
    detail = dict(recovery.detail)
    detail["fault_reverted_at"] = None if revert is None else revert.t
    return Milestone(FAILOVER_COMPLETED, recovery.t, recovery.bound, detail)


def alert_firing(event: Event) -> bool:
    """Whether an alert event says firing (an alert without a status is taken as firing)."""
    return str(event.detail.get("status", "firing")).lower() == "firing"


def detected(timeline: Timeline, t_inj: float) -> Milestone | None:
    """First firing alert received at or after injection."""
    firing = [e for e in timeline.events_of(ALERT) if e.t >= t_inj and alert_firing(e)]
    if not firing:
        return None
    first = min(firing, key=lambda e: e.t)
    return Milestone(DETECTED, first.t, ALERT_BOUND_S, {"alert": first.name, **dict(first.detail)})


@dataclass(frozen=True)
class DrillMilestones:
    """Every milestone of a drill, with the key ones by name, and how the drill was observed."""

    t_inj: float | None
    injected: Milestone | None
    impact: Milestone | None
    recovered: Milestone | None
    failover: Milestone | None
    detected: Milestone | None
    all: tuple[Milestone, ...]
    impacted: bool = False  # a steady-state stream failed after injection
    observed: bool = False  # every steady-state stream was observed after injection
    relapses: tuple[Relapse, ...] = ()  # recoveries an impact followed
    observed_until: float | None = None  # end of observation (the `verify` phase, else last)
    aborted_at: float | None = None  # first guardrail event
    stable_for: float = 0.0
    revert_at: float | None = None  # first revert of a fault injected at or after t_inj

    def apply_s(self) -> float:
        """Uncertainty of the injection instant (`act_s`, else `apply_s`): part of every error."""
        return 0.0 if self.injected is None else self.injected.bound


def derive_milestones(
    timeline: Timeline, stable_for: float, min_traffic_success: float | None = None
) -> DrillMilestones:
    """Derive every milestone; the key ones are None when they did not happen."""
    from .objectives.windows import observation_end  # the package imports this module

    faults = fault_milestones(timeline)
    manual = manual_milestones(timeline)
    t_inj = injection_time(timeline)
    injected = min((m for m in faults if m.name == FAULT_INJECTED), key=lambda m: m.t, default=None)
    guard = timeline.first(GUARDRAIL)
    end = observation_end(timeline)
    impact = fo = det = None
    rec = Recovery(None, False, False, (), None)
    revert: Event | None = None
    if t_inj is not None:
        impact = impact_started(timeline, t_inj, min_traffic_success, end)
        rec = recovery(timeline, t_inj, stable_for, min_traffic_success, end)
        fo = failover_completed(timeline, t_inj, rec.milestone)
        det = detected(timeline, t_inj)
        revert = first_revert_after(timeline, t_inj)
    key = [m for m in (impact, det, fo, rec.milestone) if m is not None]
    ordered = sorted([*faults, *manual, *key], key=lambda m: (m.t, m.name))
    return DrillMilestones(
        t_inj,
        injected,
        impact,
        rec.milestone,
        fo,
        det,
        tuple(ordered),
        impacted=rec.impacted,
        observed=rec.observed,
        relapses=rec.relapses,
        observed_until=end,
        aborted_at=None if guard is None else guard.t,
        stable_for=stable_for,
        revert_at=None if revert is None else revert.t,
    )
