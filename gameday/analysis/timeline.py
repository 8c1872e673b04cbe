"""The drill's record: one monotonic clock, probe samples, events and traffic windows.

Pure data. Every time here is `time.monotonic()` (CLOCK_MONOTONIC, shared by every process
on the machine, so the sandbox's ground truth and Locust's windows line up with ours); the
wall-clock start is recorded once and wall times are derived from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ..traffic.stats import TrafficWindow

ProbeRole = Literal["steady", "evidence"]

# Event kinds. Milestones are derived by `milestones.py`, the rest are recorded as they happen.
PHASE = "phase"
FAULT_INJECTED = "fault.injected"
FAULT_REVERTED = "fault.reverted"
FAULT_FAILED = "fault.failed"
ALERT = "alert"
MANUAL = "manual"
GUARDRAIL = "guardrail"
TICK_MISSED = "tick.missed"
TRAFFIC = "traffic"
LEDGER = "ledger.verified"
NOTE = "note"
MEASUREMENT_LOST = "measurement.lost"  # a measuring stream (traffic) died before the drill ended


@dataclass(frozen=True)
class Clock:
    """The drill's single clock: monotonic readings plus the wall time they started at."""

    start: float
    start_wall: datetime

    @classmethod
    def start_now(cls) -> Clock:
        """Read both clocks once, back to back."""
        return cls(start=time.monotonic(), start_wall=datetime.now(UTC))

    @staticmethod
    def now() -> float:
        """Monotonic seconds (the same clock every sample and event uses)."""
        return time.monotonic()

    def wall(self, t: float) -> datetime:
        """UTC wall time of a monotonic reading, derived from the one recorded start."""
        return self.start_wall + timedelta(seconds=t - self.start)

    def elapsed(self, t: float) -> float:
        """Seconds since the drill started."""
        return t - self.start


@dataclass(frozen=True, slots=True)
class Sample:
    """One probe observation: `t` is when it was sent; `late` how far behind its tick it was.

    `ended`: seconds from `t` until a sample without `latency` ended (the error came back or
    it timed out), so a failure's observation has an end too; None in older reports.
    """

    probe: str
    t: float
    ok: bool
    latency: float | None = None  # seconds, None when no answer
    value: float | str | None = None
    detail: str = ""
    late: float = 0.0
    # per-hop durations in seconds (from Server-Timing) and who served the request
    hops: Mapping[str, float] | None = None
    served_by: str | None = None
    hop_desc: Mapping[str, str] | None = None  # what a hop reached, e.g. {"db": "db-standby"}
    ended: float | None = None


@dataclass(frozen=True, slots=True)
class ProbeInfo:
    """What the timeline needs to know about a probe to judge its samples."""

    name: str
    type: str
    every: float
    role: ProbeRole


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened at `t`: a phase change, a fault applied, an alert, a step done."""

    t: float
    kind: str
    name: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Timeline:
    """Append-only record of a drill, in arrival order per stream.

    `observer`, when set, is told of every addition ("probe", "sample", "event", "traffic"):
    the runner writes the record as the drill goes through it.
    """

    clock: Clock
    probes: dict[str, ProbeInfo] = field(default_factory=dict)
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    traffic: list[TrafficWindow] = field(default_factory=list)
    observer: Callable[[str, Any], None] | None = field(default=None, repr=False, compare=False)

    def add_probe(self, info: ProbeInfo) -> None:
        self.probes[info.name] = info
        self.samples.setdefault(info.name, [])
        if self.observer is not None:
            self.observer("probe", info)

    def add_sample(self, sample: Sample) -> None:
        self.samples.setdefault(sample.probe, []).append(sample)
        if self.observer is not None:
            self.observer("sample", sample)

    def add_event(self, t: float, kind: str, name: str, **detail: Any) -> Event:
        event = Event(t, kind, name, detail)
        self.events.append(event)
        if self.observer is not None:
            self.observer("event", event)
        return event

    def add_traffic(self, window: TrafficWindow) -> None:
        self.traffic.append(window)
        if self.observer is not None:
            self.observer("traffic", window)

    def events_of(self, kind: str, name: str | None = None) -> Iterator[Event]:
        """Events of one kind (and name), in the order they happened."""
        return (e for e in self.events if e.kind == kind and (name is None or e.name == name))

    def first(self, kind: str, name: str | None = None, after: float | None = None) -> Event | None:
        """The earliest event of a kind (and name), optionally at or after `after`."""
        found = [e for e in self.events_of(kind, name) if after is None or e.t >= after]
        return min(found, key=lambda e: e.t) if found else None

    def steady_probes(self) -> list[ProbeInfo]:
        return [p for p in self.probes.values() if p.role == "steady"]

    def sampling_interval(self) -> float:
        """The coarsest steady-state probe interval: the error bound of a milestone."""
        return max((p.every for p in self.steady_probes()), default=0.0)
