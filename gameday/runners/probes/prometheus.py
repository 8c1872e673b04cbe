"""Prometheus probe: an instant query whose value is compared with a bound like `< 0.05`."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

import httpx

from ...scenarios.model import PrometheusProbe
from .base import Observation, Prober, compare, describe_error, short, timeout_detail


def extract_value(body: Any) -> tuple[float | None, str]:
    """The first sample value of a `/api/v1/query` answer, or None with the reason."""
    if not isinstance(body, dict):
        return None, "not a Prometheus answer"
    if body.get("status") != "success":
        return None, short(f"query {body.get('status', '?')}: {body.get('error', '')}".strip())
    data = body.get("data")
    if not isinstance(data, dict):
        return None, "not a Prometheus answer"
    kind, result = data.get("resultType"), data.get("result")
    pair: Any
    if kind in ("scalar", "string"):
        pair = result
    elif kind == "vector":
        if not isinstance(result, list) or not result:
            return None, "no data"
        first = result[0]
        pair = first.get("value") if isinstance(first, dict) else None
    elif kind == "matrix":
        return None, "range vector: use an instant query"
    else:
        return None, f"unknown resultType {kind!r}"
    if not isinstance(pair, list) or len(pair) != 2:
        return None, "no data"
    try:
        return float(pair[1]), ""
    except (TypeError, ValueError):
        return None, short(f"not a number: {pair[1]!r}")


class PrometheusProber(Prober[PrometheusProbe]):
    """GET {url}/api/v1/query; passes when the first value meets `expect`."""

    def __init__(self, model: PrometheusProbe) -> None:
        super().__init__(model)
        self._client: httpx.AsyncClient | None = None

    async def sample(self) -> Observation:
        """Run the query once."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), trust_env=False)
        client = self._client
        url = self.model.url.rstrip("/") + "/api/v1/query"
        start = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                resp = await client.get(url, params={"query": self.model.query})
            latency = time.monotonic() - start
            body = resp.json() if resp.content else None
        except (TimeoutError, httpx.TimeoutException):
            await self._reset()
            return Observation(False, detail=timeout_detail(self.timeout))
        except ValueError:
            return Observation(False, detail="invalid JSON from Prometheus")
        except Exception as exc:
            await self._reset()
            return Observation(False, detail=describe_error(exc))
        value, why = extract_value(body)
        if value is None:
            # Prometheus answers 400/422 with an error body; prefer its message to the status
            if why == "not a Prometheus answer" and resp.status_code != 200:
                why = f"status {resp.status_code}"
            return Observation(False, latency=latency, detail=why)
        ok = compare(value, self.model.expect)
        detail = "" if ok else f"value {value:g} not {self.model.expect.strip()}"
        return Observation(
            ok, latency=latency, value=value if math.isfinite(value) else str(value), detail=detail
        )

    async def _reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._reset()
