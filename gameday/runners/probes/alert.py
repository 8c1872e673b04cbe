"""Alert probe: passes while no alert matching its labels is firing on the drill's receiver."""

from __future__ import annotations

from ...scenarios.model import AlertProbe as AlertProbeModel
from ..receiver import AlertReceiver
from .base import Observation, short


class AlertProbe:
    """Reads the AlertReceiver's current state; value is the number of firing alerts."""

    type = "alert"

    def __init__(self, model: AlertProbeModel, receiver: AlertReceiver) -> None:
        self.model = model
        self.name = model.name
        self.every = model.every
        self.timeout = model.timeout
        self.receiver = receiver

    async def sample(self) -> Observation:
        """No I/O: the receiver already holds what Alertmanager sent."""
        firing = self.receiver.firing(self.model.match)
        if not firing:
            return Observation(True, latency=0.0, value=0)
        names = sorted({a.labels.get("alertname", "?") for a in firing})
        return Observation(
            False, latency=0.0, value=len(firing), detail=short("firing: " + ", ".join(names))
        )

    async def close(self) -> None:
        """The receiver is shared; its owner stops it."""
