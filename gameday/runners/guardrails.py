"""Watched all drill long: the guardrails (the drill's own time limit, users' availability
floor, the target taken down under the drill) and whether traffic is still measuring."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..analysis.timeline import MEASUREMENT_LOST, Timeline
from ..scenarios.model import Guardrails
from ..scenarios.units import format_duration
from ..traffic.runner import TrafficRun
from ..traffic.stats import TrafficWindow
from .lock import forced_reason

if TYPE_CHECKING:
    from .lock import TargetLock

# how often the lock is read for a forced teardown (`gameday sandbox down --force`)
FORCED_POLL_S = 0.5


class GuardrailWatch:
    """Says why the drill must stop, from the elapsed time, the latest traffic window and
    the target lock (someone forcing the target down, e.g. `gameday sandbox down --force`)."""

    def __init__(self, guardrails: Guardrails, lock: TargetLock | None = None) -> None:
        self.guardrails = guardrails
        self.lock = lock
        self._below_since: float | None = None
        self._next_lock_poll = 0.0

    def check(
        self, now: float, elapsed: float, latest: TrafficWindow | None, armed: bool
    ) -> str | None:
        """The reason to abort at ``now``, or None. The availability floor holds once ``armed``."""
        if self.lock is not None and now >= self._next_lock_poll:
            self._next_lock_poll = now + FORCED_POLL_S
            forced = self.lock.forced_by()
            if forced is not None:
                return forced_reason(forced)
        floor = self.guardrails.min_availability
        if latest is not None and floor is not None and armed:
            rate = latest.ok / latest.count if latest.count else 0.0
            if rate < floor.floor:
                self._below_since = self._below_since or now
                if now - self._below_since >= floor.for_:
                    return (
                        f"user availability below {floor.floor:.1%} "
                        f"for {format_duration(floor.for_)}"
                    )
            else:
                self._below_since = None
        if elapsed > self.guardrails.max_duration:
            return f"max_duration {format_duration(self.guardrails.max_duration)} reached"
        return None


class TrafficWatch:
    """Notices when traffic stops producing samples before teardown: what it measures goes blind."""

    def __init__(self, traffic: TrafficRun, timeline: Timeline) -> None:
        self.traffic = traffic
        self.timeline = timeline
        self.reason: str | None = None

    def lost(self, now: float, since: float | None) -> bool:
        """True once, the first time traffic is found dead after `since` (the baseline's end)."""
        if self.reason is not None or since is None or self.traffic.running():
            return False
        codes = {role: code for role, code in self.traffic.poll().items() if code is not None}
        why = self.traffic.stop_reason or ", ".join(f"{r} exited {c}" for r, c in codes.items())
        self.reason = why or "exited"
        self.timeline.add_event(now, MEASUREMENT_LOST, "traffic", reason=self.reason)
        return True
