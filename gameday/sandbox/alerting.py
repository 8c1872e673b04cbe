"""Alerting: evaluates the rules on the gateway's statistics, posts Alertmanager webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from gameday.sandbox.events import EventLog
from gameday.sandbox.httpd import Request, Response, error, json_response, serve
from gameday.sandbox.rules import (
    ActiveAlert,
    AlertBook,
    Escalator,
    RuleConfig,
    evaluate,
    webhook_payload,
)
from gameday.sandbox.runtime import periodic, run_component
from gameday.sandbox.state import SandboxError, SandboxState, atomic_write_json, load_state
from gameday.sandbox.stats import WindowStats

RECEIVER_FILE = "receiver.json"
DOWN_AFTER = 2  # consecutive failed checks before a component counts as down


def _status(alert: ActiveAlert) -> str:
    return "firing" if alert.ends_at is None else "resolved"


def _tcp_ok(port: int, timeout_s: float) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


class Alerting:
    """Continuously evaluates the alert rules."""

    def __init__(self, state: SandboxState, events: EventLog) -> None:
        s = self.settings = state.settings
        self.state = state
        self.state_dir = Path(state.state_dir)
        self.events = events
        self.cfg = RuleConfig(s.alert_success_drop_points, s.alert_p99_ms, s.alert_min_requests)
        self.book = AlertBook(repeat_s=s.alert_repeat_s)
        self.escalator = Escalator(
            s.alert_escalate_after, s.alert_escalate_window_s, s.alert_escalation_enabled
        )
        self.receiver = self._load_receiver() or s.alert_receiver_url
        self.client = httpx.AsyncClient(timeout=2.0)
        self.down_counts: dict[str, int] = {}
        self.frozen_baseline: float | None = None
        self.sent = 0

    def _load_receiver(self) -> str | None:
        try:
            url = json.loads((self.state_dir / RECEIVER_FILE).read_text()).get("url")
            return str(url) if url else None
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    async def _component_down(self) -> list[str]:
        # ports are stable but pids change on restart: re-read the state each round
        with contextlib.suppress(SandboxError):
            self.state = load_state(self.state_dir)
        down: list[str] = []
        for name, comp in self.state.components.items():
            if name == "alerting":
                continue
            if comp.kind == "postgres":
                ok = await asyncio.to_thread(_tcp_ok, comp.port, 0.5)
            else:
                try:
                    r = await self.client.get(f"{comp.url}/health", timeout=0.5)
                    ok = r.status_code < 500 or name == "gateway"
                except httpx.HTTPError:
                    ok = False
            self.down_counts[name] = 0 if ok else self.down_counts.get(name, 0) + 1
            if self.down_counts[name] >= DOWN_AFTER:
                down.append(name)
        return down

    async def _stats(self, window_s: float, end_ago_s: float) -> WindowStats | None:
        try:
            r = await self.client.get(
                f"{self.state.components['gateway'].url}/admin/stats",
                params={"window": window_s, "end_ago": end_ago_s},
                timeout=1.0,
            )
            o = r.json()["overall"]
        except (httpx.HTTPError, ValueError, KeyError):
            return None
        return WindowStats(o["requests"], o["errors"], o["shed"], o["p50_ms"], o["p99_ms"])

    async def tick(self) -> None:
        """Evaluate every rule once and send the notifications that are due."""
        s = self.settings
        current = await self._stats(s.alert_window_s, 0.0)
        base_span = max(1.0, s.alert_baseline_window_s - s.alert_window_s)
        baseline = await self._stats(base_span, s.alert_window_s)
        base_rate: float | None = None
        if baseline is not None and baseline.requests >= self.cfg.min_requests:
            base_rate = baseline.success_rate
        # while the drop alert fires, keep comparing with the rate from before the drop
        firing_drop = any(a.cond.name == "SuccessRateDrop" for a in self.book.active.values())
        if firing_drop and self.frozen_baseline is not None:
            base_rate = self.frozen_baseline
        elif not firing_drop:
            self.frozen_baseline = base_rate
        down = await self._component_down()
        conds = evaluate(self.cfg, current or WindowStats(0, 0, 0, 0.0, 0.0), base_rate, down)
        now_mono, now_wall = time.monotonic(), datetime.now(UTC)
        notified = await self._notify(self.book.update(conds, now_mono, now_wall))
        escalated = self.escalator.update(notified, now_mono, now_wall)
        for alert in escalated:
            self.events.emit(
                "alert_escalated", source=alert.cond.labels["escalated_from"], status=_status(alert)
            )
        await self._notify(escalated)

    async def _notify(self, alerts: list[ActiveAlert]) -> list[ActiveAlert]:
        """Send each alert's webhook; return those that count as fired (delivered or resolved)."""
        out: list[ActiveAlert] = []
        for alert in alerts:
            delivered = await self._send(webhook_payload(alert, self.state.gateway_url))
            if not delivered and alert.ends_at is None:
                alert.last_sent = float("-inf")  # a firing alert is retried next round
            else:
                out.append(alert)
        return out

    async def _send(self, payload: dict[str, Any]) -> bool:
        """Post one notification; False when the receiver could not be reached."""
        name = payload["groupLabels"]["alertname"]
        labels = payload["commonLabels"]
        if not self.receiver:
            self.events.emit(
                "alert_unsent",
                alertname=name,
                status=payload["status"],
                labels=labels,
                reason="no receiver",
            )
            return True  # nothing to retry until a receiver is set
        try:
            r = await self.client.post(self.receiver, json=payload)
            code: int | None = r.status_code
        except httpx.HTTPError as exc:
            self.events.emit(
                "alert_send_failed",
                alertname=name,
                status=payload["status"],
                error=type(exc).__name__,
            )
            return False
        self.sent += 1
        self.events.emit(
            "alert_sent",
            alertname=name,
            status=payload["status"],
            labels=labels,
            fingerprint=payload["alerts"][0]["fingerprint"],
            receiver_status=code,
        )
        return True

    async def handle(self, req: Request) -> Response:
        """GET /health, GET /admin/status, POST /admin/receiver {"url": ...}."""
        if req.path in ("/health", "/admin/status"):
            return json_response(
                200,
                {
                    "status": "ok",
                    "receiver": self.receiver,
                    "sent": self.sent,
                    "active": [
                        {"alertname": a.cond.name, **a.cond.labels, "summary": a.cond.summary}
                        for a in (*self.book.active.values(), *self.escalator.active.values())
                    ],
                },
            )
        if req.path == "/admin/receiver" and req.method == "POST":
            try:
                url = req.json().get("url")
            except (ValueError, AttributeError):
                return error(400, 'body must be {"url": "http://..." | null}')
            if url is not None and (
                not isinstance(url, str) or not url.startswith(("http://", "https://"))
            ):
                return error(400, "url must be an http(s) URL or null")
            self.receiver = url
            atomic_write_json(self.state_dir / RECEIVER_FILE, {"url": url})
            self.events.emit("receiver_changed", url=url)
            return json_response(200, {"receiver": url})
        return error(404, "not found")


async def _body(state: SandboxState, name: str, events: EventLog, stop: asyncio.Event) -> None:
    al = Alerting(state, events)
    server = await serve(al.handle, state.components[name].port)
    events.emit("started", receiver=al.receiver)
    await periodic(stop, state.settings.alert_eval_period_s, al.tick)
    server.close()
    await al.client.aclose()


def main() -> None:
    """Entry point: ``python -m gameday.sandbox.alerting --state-dir DIR``."""
    run_component("alerting", _body, "alerting")


if __name__ == "__main__":
    main()
