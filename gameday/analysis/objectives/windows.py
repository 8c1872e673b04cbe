"""Where on the timeline an objective looks: drill phases, fault windows, traffic windows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ...scenarios.model import AnyFault
from ...traffic.stats import TrafficWindow
from ..timeline import FAULT_INJECTED, FAULT_REVERTED, PHASE, Event, Timeline
from .result import EPS


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
    return traffic_windows(timeline.traffic, start, end, None)


def traffic_windows(
    traffic: Iterable[TrafficWindow], start: float, end: float, names: set[str] | None
) -> list[TrafficWindow]:
    """Windows overlapping [start, end], in time order: the aggregate ones, or those `names`."""
    chosen = [
        w
        for w in traffic
        if (w.is_aggregate if names is None else w.name in names)
        and w.t_mono > start + EPS
        and w.t_start < end - EPS
    ]
    return sorted(chosen, key=lambda w: (w.t_mono, w.name))


def edge_share(windows: Sequence[TrafficWindow], start: float, end: float) -> float:
    """Share of requests in windows that only partly overlap [start, end]."""
    total = sum(w.count for w in windows)
    if not total:
        return 0.0
    partial = sum(w.count for w in windows if w.t_start < start - EPS or w.t_mono > end + EPS)
    return partial / total


def injections(timeline: Timeline) -> list[Event]:
    """Every `fault.injected` event, in time order."""
    return sorted(timeline.events_of(FAULT_INJECTED), key=lambda e: e.t)


def fault_action(event: Event, faults: Sequence[AnyFault]) -> str | None:
    """The action of an injected fault: from its event, else from the scenario's fault."""
    action = event.detail.get("action")
    if isinstance(action, str):
        return action
    for fault in faults:
        if fault.label() == event.name:
            return str(getattr(fault, "action", ""))
    return None


def fault_named(name: str, faults: Sequence[AnyFault]) -> AnyFault | None:
    """The scenario's fault with that label."""
    return next((f for f in faults if f.label() == name), None)


def revert_of(timeline: Timeline, injected: Event) -> Event | None:
    """The first revert of an injected fault at or after its injection."""
    reverts = [e for e in timeline.events_of(FAULT_REVERTED, injected.name) if e.t >= injected.t]
    return min(reverts, key=lambda e: e.t) if reverts else None


def fault_windows(timeline: Timeline) -> list[tuple[str, float, float]]:
    """(fault, injected at, reverted at or end of observation) for every injected fault."""
    end = observation_end(timeline)
    out: list[tuple[str, float, float]] = []
    for event in injections(timeline):
        revert = revert_of(timeline, event)
        out.append((event.name, event.t, end if revert is None else max(revert.t, event.t)))
    return out
