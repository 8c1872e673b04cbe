"""Watched all drill long: the guardrails (the drill's own time limit, users' availability
floor) and whether traffic is still measuring."""

from __future__ import annotations

from ..analysis.timeline import MEASUREMENT_LOST, Timeline
from ..scenarios.model import Guardrails
from ..scenarios.units import format_duration
from ..traffic.runner import TrafficRun
from ..traffic.stats import TrafficWindow


class GuardrailWatch:
    """Says why the drill must stop, from the elapsed time and the latest traffic window."""

    def __init__(self, guardrails: Guardrails) -> None:
        self.guardrails = guardrails
        self._below_since: float | None = None

    def check(
        self, now: float, elapsed: float, latest: TrafficWindow | None, armed: bool
    ) -> str | None:
        """The reason to abort at ``now``, or None. The availability floor holds once ``armed``."""
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
