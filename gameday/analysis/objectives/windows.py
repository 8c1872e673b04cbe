"""Where on the timeline an objective looks: drill phases, fault windows, traffic windows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ...scenarios.model import AnyFault
from ...traffic.slices import version_of
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


def version_count(window: TrafficWindow, version: str) -> int:
    """Requests of a window served by `version` (served_by keys look like `api-a/v1`)."""
    return sum(n for key, n in window.served_by.items() if version_of(key) == version)


@dataclass(frozen=True)
class Cell:
    """Requests known to have completed in (a, b]: a 25 ms slice, or a whole window.

    A window without slices (reports written before windows carried them) is one cell; a
    window's `late` requests (from earlier windows) are one `uncertain` cell spanning it.
    """

    a: float
    b: float
    count: int
    ok: int
    version: int  # requests served by the version asked about (0 when none asked)
    sliced: bool
    uncertain: bool = False
    window: int = 0  # index of its window in the windows given to `cells`

    @property
    def failed(self) -> int:
        """Requests of the cell that did not succeed."""
        return self.count - self.ok


def cells(windows: Iterable[TrafficWindow], version: str | None = None) -> list[Cell]:
    """The requests of aggregate windows as cells in time order (slices where windows have them)."""
    out: list[Cell] = []
    for index, w in enumerate(windows):
        served = 0 if version is None else version_count(w, version)
        sl = w.slices
        if sl is None:
            if w.count:
                out.append(Cell(w.t_start, w.t_mono, w.count, w.ok, served, False, window=index))
            continue
        seen = ok = bad = 0
        for i in range(len(sl)):
            n = sl.count_at(i)
            if not n:
                continue
            a, b = sl.bounds(w.t_mono, w.window, i)
            v = 0 if version is None else sl.version_at(i, version)
            out.append(Cell(a, b, n, sl.ok[i], v, sliced=True, window=index))
            seen, ok, bad = seen + n, ok + sl.ok[i], bad + v
        if w.count > seen:
            rest = (w.count - seen, max(0, w.ok - ok), max(0, served - bad))
            out.append(Cell(w.t_start, w.t_mono, *rest, False, uncertain=True, window=index))
    return out


@dataclass(frozen=True)
class Counted:
    """Requests of the cells in a span, and how many of them lie in cells its edges cut."""

    total: int
    ok: int
    version: int
    edge: int
    sliced: bool  # every counted cell is a slice (else some were whole windows)

    @property
    def failed(self) -> int:
        """Requests that did not succeed."""
        return self.total - self.ok

    @property
    def edge_share(self) -> float:
        """Share of the requests in cells cut by the span's edges: the count's error bound."""
        return self.edge / self.total if self.total else 0.0


def count_between(all_cells: Iterable[Cell], start: float, end: float) -> Counted:
    """Requests of the cells overlapping [start, end]; those in cells it cuts are its error."""
    total = ok = version = edge = 0
    sliced = True
    for c in all_cells:
        if c.b <= start + EPS or c.a >= end - EPS:
            continue
        total, ok, version = total + c.count, ok + c.ok, version + c.version
        if c.uncertain or c.a < start - EPS or c.b > end + EPS:
            edge += c.count
        sliced = sliced and c.sliced
    return Counted(total, ok, version, edge, sliced)


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
