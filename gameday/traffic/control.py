"""The control file between the drill engine and Locust's load shape, and surge schedules.

Pure code (no I/O, no Locust). The engine appends JSON lines
``{"users": N, "spawn_rate": R, "at": <t_mono, optional>}`` or ``{"stop": true}``;
the shape in the Locust master reads them once per tick. An entry with ``at`` takes
effect at that CLOCK_MONOTONIC time (so a whole surge can be written up front and
applied on time even when the engine is busy); without ``at`` it takes effect when read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ControlEntry:
    """One line of the control file."""

    users: int = 0
    spawn_rate: float = 1.0
    at: float | None = None
    stop: bool = False


class ControlLineError(ValueError):
    """A control-file line that is not valid."""


def encode_control(entry: ControlEntry) -> str:
    """One control-file line, newline included."""
    data: dict[str, object] = (
        {"stop": True} if entry.stop else {"users": entry.users, "spawn_rate": entry.spawn_rate}
    )
    if entry.at is not None:
        data["at"] = round(entry.at, 6)
    return json.dumps(data, separators=(",", ":")) + "\n"


def parse_control_line(line: str) -> ControlEntry:
    """Parse and check one control-file line."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ControlLineError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ControlLineError("not a JSON object")
    at = data.get("at")
    if at is not None and not isinstance(at, int | float):
        raise ControlLineError("'at' must be a number")
    if data.get("stop") is True:
        return ControlEntry(stop=True, at=None if at is None else float(at))
    users, rate = data.get("users"), data.get("spawn_rate")
    if not isinstance(users, int) or isinstance(users, bool) or users < 0:
        raise ControlLineError("'users' must be an integer >= 0")
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not rate > 0:
        raise ControlLineError("'spawn_rate' must be a number > 0")
    if not math.isfinite(float(rate)):
        raise ControlLineError("'spawn_rate' must be finite")
    return ControlEntry(users=users, spawn_rate=float(rate), at=None if at is None else float(at))


class ControlState:
    """What the load shape should run now: the baseline, then the latest entry in force."""

    def __init__(self, users: int, spawn_rate: float) -> None:
        self._entries: list[tuple[float, int, ControlEntry]] = []
        self._seq = 0
        self.baseline = ControlEntry(users=users, spawn_rate=spawn_rate)

    def feed(self, entries: Iterable[ControlEntry], now: float) -> None:
        """Add entries read at `now` (an entry without `at` takes effect at `now`)."""
        for entry in entries:
            self._seq += 1
            self._entries.append((entry.at if entry.at is not None else now, self._seq, entry))
        self._entries.sort(key=lambda item: (item[0], item[1]))

    def _in_force(self, now: float) -> list[ControlEntry]:
        return [entry for at, _, entry in self._entries if at <= now]

    def stop_requested(self, now: float) -> bool:
        """True once a stop entry is in force."""
        return any(entry.stop for entry in self._in_force(now))

    def target(self, now: float) -> tuple[int, float]:
        """(users, spawn_rate) in force at `now`."""
        current = self.baseline
        for entry in self._in_force(now):
            if not entry.stop:
                current = entry
        return current.users, current.spawn_rate


@dataclass(frozen=True)
class SurgeStep:
    """Set `users` at `spawn_rate` users/s, `offset_s` after the surge starts."""

    offset_s: float
    users: int
    spawn_rate: float


def surge_schedule(
    baseline_users: int, multiply: float, ramp_s: float, hold_s: float
) -> list[SurgeStep]:
    """Steps of a surge: ramp to baseline×multiply over ramp_s, hold hold_s, ramp back.

    Locust ramps at `spawn_rate` users/s, so one step per direction gives a linear ramp;
    with ramp_s = 0 the change is made within one second. The return ends at
    2·ramp_s + hold_s.
    """
    if baseline_users < 0:
        raise ValueError("baseline_users must be >= 0")
    if not (multiply >= 0 and math.isfinite(multiply)):
        raise ValueError("multiply must be a finite number >= 0")
    if ramp_s < 0 or hold_s < 0:
        raise ValueError("ramp_s and hold_s must be >= 0")
    peak = max(0, round(baseline_users * multiply))
    delta = abs(peak - baseline_users)
    if delta == 0:
        rate = 1.0
    elif ramp_s > 0:
        rate = delta / ramp_s
    else:
        rate = float(delta)
    return [
        SurgeStep(0.0, peak, rate),
        SurgeStep(ramp_s + hold_s, baseline_users, rate),
    ]


# Environment variables through which the engine configures the Locust plugin.
ENV_STATS = (
    "GAMEDAY_TRAFFIC_STATS"  # stats file (JSON lines), written by the master / local process
)
ENV_CONTROL = "GAMEDAY_TRAFFIC_CONTROL"  # control file (JSON lines), appended by the engine
ENV_DEADLINE = "GAMEDAY_TRAFFIC_DEADLINE"  # CLOCK_MONOTONIC time at which traffic must stop
ENV_MAX_REQUESTS = "GAMEDAY_TRAFFIC_MAX_REQUESTS"  # stop after this many requests
ENV_PARENT_PID = "GAMEDAY_TRAFFIC_PARENT_PID"  # quit when this process is no longer the parent
ENV_ROLE = "GAMEDAY_TRAFFIC_ROLE"  # local, master or worker-<n>: for the log only
