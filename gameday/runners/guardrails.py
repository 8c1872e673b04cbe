"""Guardrails watched all drill long: the drill's own time limit, and users' availability floor."""

from __future__ import annotations

from ..scenarios.model import Guardrails
from ..scenarios.units import format_duration
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
