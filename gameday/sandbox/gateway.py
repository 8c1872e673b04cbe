"""Gateway: the one public URL. Routes to site A, fails over to site B, splits to the canary."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx

from gameday.sandbox.events import EventLog
from gameday.sandbox.httpd import Request, Response, error, json_response, serve
from gameday.sandbox.runtime import periodic, run_component
from gameday.sandbox.state import SandboxState
from gameday.sandbox.stats import PromMetrics, RollingStats
from gameday.sandbox.timing import format_server_timing, parse_descriptions, parse_server_timing

PUBLIC_ROUTES = {"/pay": "POST", "/balance": "GET", "/coupons": "GET"}
SITES = {"a": "api-a", "b": "api-b"}
CANARY = "api-canary"
PASS_HEADERS = ("content-type", "retry-after", "x-circuit")


class Gateway:
    """Routing state, health checking and per-version statistics."""

    def __init__(self, state: SandboxState, events: EventLog) -> None:
        s = self.settings = state.settings
        self.events = events
        self.active_site = "a"
        self.failures = {site: 0 for site in SITES}
        self.healthy = {site: True for site in SITES}
        self.canary_weight = 0.0
        self.canary_version: str | None = None
        self.stable_version = "v1"
        self.stats = RollingStats()
        self.metrics = PromMetrics()
        timeout = httpx.Timeout(s.upstream_timeout_s, connect=1.0)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self.clients = {
            comp: httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{state.link('gateway', comp).listen_port}",
                timeout=timeout,
                limits=limits,
            )
            for comp in (*SITES.values(), CANARY)
        }
        htimeout = httpx.Timeout(s.gateway_health_timeout_s)
        self.health_clients = {
            site: httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{state.link('gateway', comp).listen_port}",
                timeout=htimeout,
            )
            for site, comp in SITES.items()
        }

    # --- health and site failover -----------------------------------------------------

    async def _check(self, site: str) -> None:
        ok = False
        try:
            r = await self.health_clients[site].get("/health")
            ok = r.status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            if not self.healthy[site]:
                self.events.emit("site_healthy", site=site)
            self.failures[site] = 0
            self.healthy[site] = True
            return
        self.failures[site] += 1
        if self.failures[site] <= self.settings.gateway_failure_threshold:
            self.events.emit("health_failed", site=site, consecutive=self.failures[site])
        if self.failures[site] >= self.settings.gateway_failure_threshold and self.healthy[site]:
            self.healthy[site] = False
            self.events.emit("site_unhealthy", site=site)

    async def health_tick(self) -> None:
        """Check both sites; fail over from an unhealthy active site to a healthy one."""
        await asyncio.gather(*(self._check(site) for site in SITES))
        other = "b" if self.active_site == "a" else "a"
        if not self.healthy[self.active_site] and self.healthy[other]:
            old, self.active_site = self.active_site, other
            self.events.emit(
                "failover", from_site=old, to_site=other, reason="health checks failed"
            )

    def set_site(self, site: str, reason: str) -> Response:
        """Route to ``site`` (failback or forced failover); refused if it is unhealthy."""
        if site not in SITES:
            return error(400, "site must be a or b")
        if not self.healthy[site]:
            return error(409, f"site {site} is unhealthy")
        if site != self.active_site:
            old, self.active_site = self.active_site, site
            event = "failback" if site == "a" else "failover"
            self.events.emit(event, from_site=old, to_site=site, reason=reason)
        return json_response(200, self.status())

    # --- request routing --------------------------------------------------------------

    async def handle(self, req: Request) -> Response:
        """Public routes are proxied; /health, /metrics and /admin/* are the gateway's own."""
        if req.path in PUBLIC_ROUTES:
            return await self._proxy(req)
        if req.path == "/health":
            ok = self.healthy[self.active_site]
            return json_response(200 if ok else 503, self.status())
        if req.path == "/metrics":
            self.metrics.gauges["gameday_gateway_canary_weight"] = self.canary_weight
            self.metrics.gauges["gameday_gateway_active_site_b"] = float(self.active_site == "b")
            return Response(200, self.metrics.render().encode(), {}, "text/plain; version=0.0.4")
        if req.path.startswith("/admin/"):
            return self._admin(req)
        return error(404, "not found")

    def _pick(self) -> tuple[str, str, str]:
        """(component, expected version, site label) for the next request."""
        if self.canary_weight > 0 and random.random() * 100.0 < self.canary_weight:
            return CANARY, self.canary_version or "canary", "canary"
        return SITES[self.active_site], self.stable_version, f"site-{self.active_site}"

    async def _proxy(self, req: Request) -> Response:
        t0 = time.perf_counter()
        comp, version, site = self._pick()
        headers = {"content-type": req.headers.get("content-type", "application/json")}
        hops: dict[str, float] = {}
        descs: dict[str, str] = {}
        served = f"gateway/{version}"
        try:
            r = await self.clients[comp].request(
                req.method, req.path, params=req.query, content=req.body, headers=headers
            )
        except httpx.TimeoutException:
            resp = error(504, f"upstream {comp} timed out")
        except httpx.HTTPError as exc:
            resp = error(502, f"upstream {comp} unreachable: {type(exc).__name__}")
        else:
            resp = Response(r.status_code, r.content, {})
            for name in PASS_HEADERS:
                if name in r.headers:
                    resp.headers[name.title()] = r.headers[name]
            resp.content_type = r.headers.get("content-type", "application/json")
            served = r.headers.get("x-served-by", f"{comp}/{version}")
            if "/" in served:
                version = served.split("/", 1)[1]
            hops = parse_server_timing(r.headers.get("server-timing"))
            descs = parse_descriptions(r.headers.get("server-timing"))
        upstream_ms = (time.perf_counter() - t0) * 1000.0
        total_ms = (time.perf_counter() - t0) * 1000.0
        timing = {"gateway": total_ms, "upstream": upstream_ms}
        timing.update({k: v for k, v in hops.items() if k in ("api", "db")})
        resp.headers["Server-Timing"] = format_server_timing(timing, descs)
        resp.headers["X-Served-By"] = served
        resp.headers["X-Site"] = site
        self.stats.record(version, resp.status, total_ms)
        self.metrics.record(req.path, resp.status, version, site, total_ms / 1000.0)
        return resp

    # --- admin ------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Routing state."""
        return {
            "active_site": self.active_site,
            "sites": {
                s: {"component": c, "healthy": self.healthy[s], "failures": self.failures[s]}
                for s, c in SITES.items()
            },
            "weights": {"stable": 100.0 - self.canary_weight, "canary": self.canary_weight},
            "stable_version": self.stable_version,
            "canary_version": self.canary_version,
        }

    def stats_payload(self, window_s: float, end_ago_s: float) -> dict[str, Any]:
        """Per-version and overall statistics over a window."""
        return {
            "window_s": window_s,
            "overall": self.stats.window(None, window_s, end_ago_s).to_dict(),
            "versions": {
                v: self.stats.window(v, window_s, end_ago_s).to_dict() for v in self.stats.names()
            },
        }

    def _admin(self, req: Request) -> Response:
        try:
            body: Any = req.json() if req.method == "POST" else None
            if req.path == "/admin/status":
                return json_response(200, self.status())
            if req.path == "/admin/stats":
                window = float(req.query.get("window", "10"))
                end_ago = float(req.query.get("end_ago", "0"))
                if not 0 < window <= 600 or end_ago < 0:
                    raise ValueError("window must be in (0, 600], end_ago >= 0")
                return json_response(200, self.stats_payload(window, end_ago))
            if req.method != "POST":
                return error(405, "use POST")
            if req.path == "/admin/weights":
                weight = float(body["canary"])
                if not 0.0 <= weight <= 100.0:
                    raise ValueError("canary weight must be within 0..100")
                old = self.canary_weight
                self.canary_weight = weight
                if body.get("version"):
                    self.canary_version = str(body["version"])
                if body.get("stable_version"):
                    self.stable_version = str(body["stable_version"])
                self.events.emit(
                    "weights_changed",
                    old=old,
                    canary=weight,
                    canary_version=self.canary_version,
                    stable_version=self.stable_version,
                )
                return json_response(200, self.status())
            if req.path == "/admin/failback":
                return self.set_site("a", "admin failback")
            if req.path == "/admin/site":
                return self.set_site(str(body["site"]), "admin request")
        except (ValueError, KeyError, TypeError) as exc:
            return error(400, f"bad request: {exc}")
        return error(404, "not found")

    async def close(self) -> None:
        """Close the HTTP clients."""
        for c in (*self.clients.values(), *self.health_clients.values()):
            await c.aclose()


async def _body(state: SandboxState, name: str, events: EventLog, stop: asyncio.Event) -> None:
    gw = Gateway(state, events)
    server = await serve(gw.handle, state.components[name].port)
    events.emit("started", port=state.components[name].port)
    await periodic(stop, state.settings.gateway_health_period_s, gw.health_tick)
    server.close()
    await gw.close()


def main() -> None:
    """Entry point: ``python -m gameday.sandbox.gateway --state-dir DIR``."""
    run_component("gateway", _body, "gateway")


if __name__ == "__main__":
    main()
