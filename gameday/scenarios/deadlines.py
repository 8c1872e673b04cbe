"""Which deadline a manual step has: its day or its night value, from the drill's start time.

Pure: the choice is a function of the wall time the drill started and the night window
(`night:` of the scenario or its suite, default 22:00–07:00 UTC), so a test sets the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from .model import DayNightDeadline, NightWindow

Tier = Literal["day", "night"]


@dataclass(frozen=True)
class DeadlineChoice:
    """The deadline in force: seconds after the first fault, its tier and why it applied."""

    seconds: float
    tier: Tier | None = None  # None: the step has one deadline around the clock
    why: str = ""


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def in_night(local: time, window: NightWindow) -> bool:
    """Whether a local time of day lies in [from, to), the window possibly wrapping midnight."""
    start, end = _clock(window.from_), _clock(window.to)
    if start < end:
        return start <= local < end
    return local >= start or local < end


def choose_deadline(
    deadline: float | DayNightDeadline,
    started: datetime,
    night: NightWindow | None = None,
    *,
    event: str = "drill started",
) -> DeadlineChoice:
    """The deadline for a drill that started at `started` (a naive time is taken as UTC).

    `event` words the reason: "drill started 23:40 Asia/Shanghai, in the night window ...".
    """
    if not isinstance(deadline, DayNightDeadline):
        return DeadlineChoice(deadline)
    window = night or NightWindow()
    aware = started if started.tzinfo is not None else started.replace(tzinfo=UTC)
    local = aware.astimezone(ZoneInfo(window.tz))
    is_night = in_night(local.time(), window)
    tier: Tier = "night" if is_night else "day"
    where = "in" if is_night else "outside"
    why = f"{event} {local:%H:%M} {window.tz}, {where} the night window {window.from_}–{window.to}"
    return DeadlineChoice(deadline.night if is_night else deadline.day, tier, why)
