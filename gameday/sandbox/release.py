"""Release controller: canary rollout 5% → 20% → 50% → 100% with analysis and auto-rollback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import httpx

from gameday.sandbox.api import VERSIONS
from gameday.sandbox.events import EventLog
from gameday.sandbox.httpd import Request, Response, error, json_response, serve
from gameday.sandbox.runtime import run_component
from gameday.sandbox.state import SandboxState
from gameday.sandbox.stats import WindowStats

MAX_STEP_EXTENSIONS = 3


@dataclass(frozen=True)
class CanaryThresholds:
    """When a canary step fails its analysis."""

    max_error_rate: float = 0.05
    max_p99_ms: float = 250.0
    min_requests: int = 5


def analyse(canary: WindowStats, stable: WindowStats, th: CanaryThresholds) -> list[str]:
    """Reasons the canary breaches its thresholds (empty: healthy or too little data).

    Errors and latency are judged against the stable version's own, so a fault or a
    slowdown affecting everyone is not blamed on the canary: its p99 must pass the
    threshold and be twice the stable's.
    """
    if canary.requests < th.min_requests:
        return []
    reasons: list[str] = []
    comparable = stable.requests >= th.min_requests
    baseline = stable.error_rate if comparable else 0.0
    if canary.error_rate > baseline + th.max_error_rate:
        reasons.append(f"error rate {canary.error_rate:.1%} > {baseline + th.max_error_rate:.1%}")
    p99_limit = max(th.max_p99_ms, 2 * stable.p99_ms if comparable else 0.0)
    if canary.p99_ms > p99_limit:
        reasons.append(f"p99 {canary.p99_ms:.0f} ms > {p99_limit:.0f} ms")
    return reasons


def _window(data: dict[str, Any] | None) -> WindowStats:
    d = data or {}
    return WindowStats(
        int(d.get("requests", 0)),
        int(d.get("errors", 0)),
        int(d.get("shed", 0)),
        float(d.get("p50_ms", 0.0)),
        float(d.get("p99_ms", 0.0)),
    )


class ReleaseController:
    """Runs at most one rollout at a time."""

    def __init__(self, state: SandboxState, events: EventLog) -> None:
        self.state = state
        self.events = events
        s = state.settings
        self.th = CanaryThresholds(
            s.canary_max_error_rate, s.canary_max_p99_ms, s.canary_min_requests
        )
        self.client = httpx.AsyncClient(timeout=2.0)
        self.gateway = state.components["gateway"].url
        self.task: asyncio.Task[None] | None = None
        self.rollout: dict[str, Any] = {"status": "idle"}
        self.stable_version = "v1"

    async def _post(self, url: str, body: dict[str, Any]) -> None:
        r = await self.client.post(url, json=body)
        r.raise_for_status()

    async def _set_weight(self, weight: float, version: str) -> None:
        await self._post(
            f"{self.gateway}/admin/weights",
            {"canary": weight, "version": version, "stable_version": self.stable_version},
        )

    async def _stats(self, window_s: float) -> dict[str, Any]:
        r = await self.client.get(f"{self.gateway}/admin/stats", params={"window": window_s})
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    def start(self, version: str, steps: list[int], interval_s: float) -> Response:
        """Begin a rollout (409 while one is running)."""
        if self.task is not None and not self.task.done():
            return error(409, "a rollout is already running; abort it first")
        self.rollout = {
            "status": "running",
            "version": version,
            "steps": steps,
            "interval_s": interval_s,
            "step": None,
            "analyses": [],
            "started_mono": time.monotonic(),
        }
        self.events.emit("rollout_started", version=version, steps=steps, interval_s=interval_s)
        self.task = asyncio.create_task(self._run(version, steps, interval_s))
        return json_response(202, self.rollout)

    async def abort(self) -> Response:
        """Stop a running rollout and send all traffic back to the stable version."""
        if self.task is None or self.task.done():
            return error(409, "no rollout is running")
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        await self._set_weight(0.0, str(self.rollout.get("version")))
        # the canary goes back to the stable version too, as a rollback does (Argo Rollouts
        # scales the canary ReplicaSet down): an abort leaves the staging as it found it
        canary_url = self.state.components["api-canary"].url
        restored = True
        try:
            await self._post(f"{canary_url}/admin/version", {"version": self.stable_version})
        except httpx.HTTPError:
            restored = False  # the canary is down: whoever aborted puts it back (revert does)
        self.rollout["status"] = "aborted"
        self.events.emit(
            "rollout_aborted", version=self.rollout.get("version"), canary_restored=restored
        )
        return json_response(200, self.rollout)

    async def _run(self, version: str, steps: list[int], interval_s: float) -> None:
        try:
            canary_url = self.state.components["api-canary"].url
            await self._post(f"{canary_url}/admin/version", {"version": version})
            loop_s = self.state.settings.controller_loop_s
            for weight in steps:
                self.rollout["step"] = weight
                await self._set_weight(float(weight), version)
                self.events.emit("rollout_step", version=version, weight=weight)
                step_start = time.monotonic()
                deadline = step_start + interval_s
                extensions = 0
                # bounded: at most (1 + MAX_STEP_EXTENSIONS) intervals per step
                while True:
                    await asyncio.sleep(loop_s)
                    elapsed = time.monotonic() - step_start
                    stats = await self._stats(max(1.0, elapsed))
                    canary = _window(stats["versions"].get(version))
                    stable = _window(stats["versions"].get(self.stable_version))
                    reasons = analyse(canary, stable, self.th)
                    if reasons:
                        await self._rollback(version, weight, reasons, canary)
                        return
                    if time.monotonic() >= deadline:
                        if (
                            canary.requests < self.th.min_requests
                            and extensions < MAX_STEP_EXTENSIONS
                        ):
                            extensions += 1
                            deadline += interval_s
                            continue
                        self.rollout["analyses"].append(
                            {
                                "weight": weight,
                                "canary": canary.to_dict(),
                                "verdict": "pass"
                                if canary.requests >= self.th.min_requests
                                else "inconclusive",
                            }
                        )
                        break
            for comp in ("api-a", "api-b"):
                await self._post(
                    f"{self.state.components[comp].url}/admin/version", {"version": version}
                )
            self.stable_version = version
            await self._set_weight(0.0, version)
            self.rollout["status"] = "completed"
            self.events.emit("rollout_completed", version=version)
        except httpx.HTTPError as exc:
            self.rollout["status"] = "failed"
            self.rollout["error"] = f"{type(exc).__name__}: {exc}"
            self.events.emit("rollout_failed", version=version, error=self.rollout["error"])
            with contextlib.suppress(httpx.HTTPError):
                await self._set_weight(0.0, version)

    async def _rollback(
        self, version: str, weight: int, reasons: list[str], canary: WindowStats
    ) -> None:
        await self._set_weight(0.0, version)
        canary_url = self.state.components["api-canary"].url
        await self._post(f"{canary_url}/admin/version", {"version": self.stable_version})
        self.rollout["status"] = "rolled_back"
        self.rollout["reasons"] = reasons
        self.rollout["analyses"].append(
            {"weight": weight, "canary": canary.to_dict(), "verdict": "fail"}
        )
        self.events.emit(
            "rolled_back", version=version, weight=weight, reasons=reasons, canary=canary.to_dict()
        )

    async def handle(self, req: Request) -> Response:
        """POST /admin/rollout, POST /admin/abort, GET /admin/status, GET /health."""
        if req.path in ("/health", "/admin/status"):
            return json_response(
                200,
                {"status": "ok", "rollout": self.rollout, "stable_version": self.stable_version},
            )
        if req.method != "POST":
            return error(405, "use POST")
        if req.path == "/admin/abort":
            return await self.abort()
        if req.path == "/admin/rollout":
            s = self.state.settings
            try:
                body = req.json()
                version = str(body["version"])
                steps = [int(x) for x in body.get("steps", s.rollout_steps)]
                interval = float(body.get("interval_s", s.rollout_interval_s))
            except (ValueError, KeyError, TypeError) as exc:
                return error(400, f'body must be {{"version", "steps"?, "interval_s"?}} ({exc})')
            if version not in VERSIONS:
                return error(400, f"unknown version {version!r}; known: {', '.join(VERSIONS)}")
            if not steps or any(not 0 < w <= 100 for w in steps) or steps != sorted(steps):
                return error(400, "steps must be increasing percentages in 1..100")
            if not 0 < interval <= 3600:
                return error(400, "interval_s must be in (0, 3600]")
            return self.start(version, steps, interval)
        return error(404, "not found")


async def _body(state: SandboxState, name: str, events: EventLog, stop: asyncio.Event) -> None:
    ctl = ReleaseController(state, events)
    server = await serve(ctl.handle, state.components[name].port)
    events.emit("started")
    await stop.wait()
    if ctl.task is not None:
        ctl.task.cancel()
    server.close()
    await ctl.client.aclose()


def main() -> None:
    """Entry point: ``python -m gameday.sandbox.release --state-dir DIR``."""
    run_component("release", _body, "release")


if __name__ == "__main__":
    main()
