"""Typed client for the sandbox's admin endpoints: proxy links, gateway, controllers, APIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import httpx

from gameday.sandbox.state import SandboxError, SandboxState, load_state, resolve_state_dir


class AdminError(SandboxError):
    """An admin call was refused or its component is unreachable."""


class SandboxClient:
    """Calls the admin endpoints of a running sandbox (direct, never through the proxy)."""

    def __init__(self, state: SandboxState, timeout_s: float = 5.0) -> None:
        self.state = state
        self._http = httpx.Client(timeout=timeout_s)

    @classmethod
    def open(cls, state_dir: Path | None = None) -> SandboxClient:
        """A client for the sandbox in ``state_dir``."""
        return cls(load_state(resolve_state_dir(state_dir)))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> SandboxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _url(self, component: str, path: str) -> str:
        return f"{self.state.components[component].url}{path}"

    def _call(self, method: str, component: str, path: str, body: Any = None, **params: Any) -> Any:
        try:
            r = self._http.request(
                method, self._url(component, path), json=body, params=params or None
            )
        except httpx.HTTPError as exc:
            raise AdminError(f"{component} unreachable: {type(exc).__name__}") from exc
        if r.status_code >= 400:
            try:
                msg = r.json().get("error", r.text)
            except ValueError:
                msg = r.text
            raise AdminError(f"{component} {path}: {r.status_code} {msg}")
        return r.json()

    # --- fault proxy ---------------------------------------------------------------------

    def links(self) -> list[dict[str, Any]]:
        """Every link with its state (name, src, dst, ports, state, mode, latency_ms)."""
        return list(self._call("GET", "proxy", "/links")["links"])

    def set_link(
        self,
        name: str,
        state: Literal["open", "cut", "latency"],
        mode: Literal["blackhole", "reset"] = "blackhole",
        latency_ms: float = 0.0,
    ) -> dict[str, Any]:
        """Set one link's state."""
        body = {"state": state, "mode": mode, "latency_ms": latency_ms}
        result: dict[str, Any] = self._call("POST", "proxy", f"/links/{name}", body)
        return result

    def apply_links(
        self,
        state: Literal["open", "cut", "latency"],
        *,
        names: list[str] | None = None,
        touching: list[str] | None = None,
        between: tuple[list[str], list[str]] | None = None,
        mode: Literal["blackhole", "reset"] = "blackhole",
        latency_ms: float = 0.0,
    ) -> list[str]:
        """Set the state of every link matching the criteria; returns their names.

        ``touching``: links whose src or dst is one of these services (isolate them);
        ``between``: links with one end in each group (partition). Group names from
        ``state.groups`` (e.g. ``site-a``) are expanded.
        """
        body: dict[str, Any] = {"state": state, "mode": mode, "latency_ms": latency_ms}
        if names is not None:
            body["names"] = names
        if touching is not None:
            body["touching"] = self.expand(touching)
        if between is not None:
            body["between"] = [self.expand(between[0]), self.expand(between[1])]
        return list(self._call("POST", "proxy", "/apply", body)["changed"])

    def expand(self, services: list[str]) -> list[str]:
        """Replace group names (site-a, site-b, apis, databases) by their members."""
        out: list[str] = []
        for s in services:
            out.extend(self.state.groups.get(s, [s]))
        return out

    def restore_links(self) -> list[str]:
        """Open every link (no cut, no latency); returns the ones that were not open."""
        return list(self._call("POST", "proxy", "/restore")["restored"])

    # --- gateway -------------------------------------------------------------------------

    def gateway_status(self) -> dict[str, Any]:
        """Active site, site health, weights and versions."""
        result: dict[str, Any] = self._call("GET", "gateway", "/admin/status")
        return result

    def set_canary_weight(self, weight: float, version: str | None = None) -> dict[str, Any]:
        """Send ``weight`` percent of traffic to the canary slot."""
        body: dict[str, Any] = {"canary": weight}
        if version:
            body["version"] = version
        result: dict[str, Any] = self._call("POST", "gateway", "/admin/weights", body)
        return result

    def failback(self) -> dict[str, Any]:
        """Route traffic back to site A (refused while it is unhealthy)."""
        result: dict[str, Any] = self._call("POST", "gateway", "/admin/failback", {})
        return result

    def set_site(self, site: Literal["a", "b"]) -> dict[str, Any]:
        """Route traffic to a site."""
        result: dict[str, Any] = self._call("POST", "gateway", "/admin/site", {"site": site})
        return result

    def gateway_stats(self, window_s: float = 10.0) -> dict[str, Any]:
        """Overall and per-version request stats over the last ``window_s`` seconds."""
        result: dict[str, Any] = self._call("GET", "gateway", "/admin/stats", window=window_s)
        return result

    # --- failover controller -------------------------------------------------------------

    def failover_status(self) -> dict[str, Any]:
        """Whether failover is enabled, the writer, the last promotion."""
        result: dict[str, Any] = self._call("GET", "failover", "/admin/status")
        return result

    def set_failover_enabled(self, enabled: bool) -> dict[str, Any]:
        """Enable or disable automatic promotion (disabled: a drill shows a failed recovery)."""
        result: dict[str, Any] = self._call(
            "POST", "failover", "/admin/enabled", {"enabled": enabled}
        )
        return result

    # --- release controller --------------------------------------------------------------

    def start_rollout(
        self, version: str, steps: list[int] | None = None, interval_s: float | None = None
    ) -> dict[str, Any]:
        """Start rolling ``version`` out through the canary slot."""
        body: dict[str, Any] = {"version": version}
        if steps is not None:
            body["steps"] = steps
        if interval_s is not None:
            body["interval_s"] = interval_s
        result: dict[str, Any] = self._call("POST", "release", "/admin/rollout", body)
        return result

    def abort_rollout(self) -> dict[str, Any]:
        """Abort the running rollout (canary weight back to 0)."""
        result: dict[str, Any] = self._call("POST", "release", "/admin/abort", {})
        return result

    def rollout_status(self) -> dict[str, Any]:
        """The current or last rollout."""
        result: dict[str, Any] = self._call("GET", "release", "/admin/status")
        return result

    # --- alerting and APIs ---------------------------------------------------------------

    def set_alert_receiver(self, url: str | None) -> dict[str, Any]:
        """Post alerts to ``url`` from now on (None: stop posting)."""
        result: dict[str, Any] = self._call("POST", "alerting", "/admin/receiver", {"url": url})
        return result

    def alert_status(self) -> dict[str, Any]:
        """Receiver, notifications sent and alerts active."""
        result: dict[str, Any] = self._call("GET", "alerting", "/admin/status")
        return result

    def set_api_version(self, api: str, version: str) -> dict[str, Any]:
        """Run ``version`` on one API instance (v1, v2, v2-faulty, v2-slow)."""
        result: dict[str, Any] = self._call("POST", api, "/admin/version", {"version": version})
        return result

    def api_status(self, api: str) -> dict[str, Any]:
        """Version, writer, breaker states and tokens of one API instance."""
        result: dict[str, Any] = self._call("GET", api, "/admin/status")
        return result
