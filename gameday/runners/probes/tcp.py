"""TCP probe: a connect, then close."""

from __future__ import annotations

import asyncio
import contextlib
import time

from ...scenarios.model import TcpProbe
from .base import Observation, Prober, describe_error, timeout_detail


class TcpProber(Prober[TcpProbe]):
    """Passes when a TCP connection is established within the timeout."""

    async def sample(self) -> Observation:
        """Open and close one connection."""
        start = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                _, writer = await asyncio.open_connection(self.model.host, self.model.port)
        except TimeoutError:
            return Observation(False, detail=timeout_detail(self.timeout))
        except Exception as exc:
            return Observation(False, detail=describe_error(exc))
        latency = time.monotonic() - start
        writer.close()
        # the close handshake is not what we measure; do not let it hang the probe
        with contextlib.suppress(Exception):
            async with asyncio.timeout(0.5):
                await writer.wait_closed()
        return Observation(True, latency=latency)
