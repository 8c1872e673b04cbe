"""Alert probe: passes while no alert matching its labels is firing on the drill's receiver."""

from __future__ import annotations

from typing import Self

from ...scenarios.model import AlertProbe
from ..receiver import AlertReceiver
from .base import Observation, Prober, short


class AlertProber(Prober[AlertProbe]):
    """Reads the AlertReceiver's current state; value is the number of firing alerts.

    Nothing to close: the receiver is shared, and its owner stops it.
    """

    def __init__(self, model: AlertProbe, receiver: AlertReceiver) -> None:
        super().__init__(model)
        self.receiver = receiver

    @classmethod
    def build(cls, model: AlertProbe, *, run_id: str, receiver: AlertReceiver | None) -> Self:
        """Needs the drill's receiver."""
        if receiver is None:
            raise ValueError(f"probe {model.name!r}: an alert probe needs the drill's receiver")
        return cls(model, receiver)

    async def sample(self) -> Observation:
        """No I/O: the receiver already holds what Alertmanager sent."""
        firing = self.receiver.firing(self.model.match)
        if not firing:
            return Observation(True, latency=0.0, value=0)
        names = sorted({a.labels.get("alertname", "?") for a in firing})
        return Observation(
            False, latency=0.0, value=len(firing), detail=short("firing: " + ", ".join(names))
        )
