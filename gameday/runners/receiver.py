"""Alertmanager-compatible webhook receiver on 127.0.0.1: records each alert with its receive time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import h11

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
_IDLE_TIMEOUT = 10.0
_STATUSES = ("firing", "resolved")


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook (version 4) payload."""


@dataclass(frozen=True, slots=True)
class ReceivedAlert:
    """One alert of one webhook notification, stamped with the monotonic receive time."""

    t: float
    status: str  # firing | resolved
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: str = ""
    ends_at: str = ""
    fingerprint: str = ""
    group_key: str = ""
    receiver: str = ""

    @property
    def name(self) -> str:
        """The alertname label (empty if absent)."""
        return self.labels.get("alertname", "")

    @property
    def identity(self) -> str:
        """What makes two notifications the same alert: the fingerprint, else the label set."""
        return self.fingerprint or json.dumps(sorted(self.labels.items()))

    def matches(self, match: Mapping[str, str] | None) -> bool:
        """Whether the alert carries every label of `match`."""
        return not match or all(self.labels.get(k) == v for k, v in match.items())


def _str_map(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PayloadError(f"{what} must be an object of strings")
    return dict(value)


def _opt_str(value: object, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{what} must be a string")
    return value


def parse_payload(body: bytes, t: float) -> list[ReceivedAlert]:
    """Validate a webhook body (all or nothing) and return its alerts stamped with `t`."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PayloadError("payload must be a JSON object")
    if doc.get("version") != "4":
        raise PayloadError(f"unsupported webhook version {doc.get('version')!r} (expected '4')")
    if doc.get("status") not in _STATUSES:
        raise PayloadError("status must be 'firing' or 'resolved'")
    alerts = doc.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("alerts must be a list")
    group_key = _opt_str(doc.get("groupKey"), "groupKey")
    receiver = _opt_str(doc.get("receiver"), "receiver")
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        _str_map(doc.get(key), key)
    out: list[ReceivedAlert] = []
    for i, raw in enumerate(alerts):
        if not isinstance(raw, dict):
            raise PayloadError(f"alerts[{i}] must be an object")
        status = raw.get("status")
        if status not in _STATUSES:
            raise PayloadError(f"alerts[{i}].status must be 'firing' or 'resolved'")
        labels = _str_map(raw.get("labels"), f"alerts[{i}].labels")
        out.append(
            ReceivedAlert(
                t=t,
                status=str(status),
                labels=labels,
                annotations=_str_map(raw.get("annotations"), f"alerts[{i}].annotations"),
                starts_at=_opt_str(raw.get("startsAt"), f"alerts[{i}].startsAt"),
                ends_at=_opt_str(raw.get("endsAt"), f"alerts[{i}].endsAt"),
                fingerprint=_opt_str(raw.get("fingerprint"), f"alerts[{i}].fingerprint"),
                group_key=group_key,
                receiver=receiver,
            )
        )
    return out


class AlertReceiver:
    """Webhook endpoint at `/hooks/<run_id>`; every other path is 404 and nothing is recorded."""

    def __init__(
        self,
        run_id: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_alert: Callable[[ReceivedAlert], None] | None = None,
        max_body: int = MAX_BODY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not run_id or "/" in run_id:
            raise ValueError("run_id must be a non-empty path segment")
        self.run_id = run_id
        self.host = host
        self.path = f"/hooks/{run_id}"
        self.on_alert = on_alert
        self.max_body = max_body
        self.clock = clock
        self.alerts: list[ReceivedAlert] = []
        self.rejected = 0  # payloads refused with 400/413 on the hook path
        self._requested_port = port
        self._latest: dict[str, ReceivedAlert] = {}
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        """The full webhook URL for Alertmanager's `webhook_configs`."""
        if self._server is None:
            raise RuntimeError("receiver not started")
        return f"http://{self.host}:{self.port}{self.path}"

    async def start(self) -> None:
        """Listen on an ephemeral port (unless one was given)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, self.host, self._requested_port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop listening and drop open connections (bounded)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.wait(set(self._conns), timeout=timeout)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await server.wait_closed()

    def record(self, alerts: list[ReceivedAlert]) -> None:
        """Store alerts (as if received) and notify `on_alert`."""
        for alert in alerts:
            self.alerts.append(alert)
            self._latest[alert.identity] = alert
            if self.on_alert is not None:
                try:
                    self.on_alert(alert)
                except Exception:
                    log.exception("on_alert callback failed")

    def firing(self, match: Mapping[str, str] | None = None) -> list[ReceivedAlert]:
        """Alerts whose latest notification says firing and that carry every label of `match`."""
        return [a for a in self._latest.values() if a.status == "firing" and a.matches(match)]

    def first(
        self,
        match: Mapping[str, str] | None = None,
        *,
        after: float | None = None,
        status: str = "firing",
    ) -> ReceivedAlert | None:
        """The earliest received alert with `status` matching `match`, at or after `after`."""
        for alert in self.alerts:
            if (
                alert.status == status
                and alert.matches(match)
                and (after is None or alert.t >= after)
            ):
                return alert
        return None

    # ------------------------------------------------------------------ HTTP

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            await self._connection(reader, writer)
        except (asyncio.CancelledError, TimeoutError, ConnectionError, h11.ProtocolError):
            pass
        except Exception:
            log.exception("webhook connection failed")
        finally:
            if task is not None:
                self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(0.5):
                    await writer.wait_closed()

    async def _next_event(self, conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            async with asyncio.timeout(_IDLE_TIMEOUT):
                data = await reader.read(65536)
            conn.receive_data(data)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=16 * 1024)
        while True:
            try:
                event = await self._next_event(conn, reader)
            except h11.RemoteProtocolError:
                await self._send(conn, writer, 400, {"error": "bad request"})
                return
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return
            if not isinstance(event, h11.Request):
                return
            status, body = await self._handle(conn, reader, event)
            await self._send(conn, writer, status, body)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _handle(
        self, conn: h11.Connection, reader: asyncio.StreamReader, request: h11.Request
    ) -> tuple[int, dict[str, Any]]:
        target = request.target.decode("latin-1").split("?", 1)[0]
        method = request.method.decode("latin-1")
        declared = next((v for k, v in request.headers if k == b"content-length"), None)
        if declared is not None and int(declared) > self.max_body:
            return 413, {"error": f"body larger than {self.max_body} bytes"}
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await self._next_event(conn, reader)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.max_body:
                    return 413, {"error": f"body larger than {self.max_body} bytes"}
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                return 400, {"error": "incomplete request"}
        received = self.clock()
        if target != self.path:
            return 404, {"error": "not found"}
        if method != "POST":
            return 405, {"error": "POST only"}
        try:
            alerts = parse_payload(b"".join(chunks), received)
        except PayloadError as exc:
            self.rejected += 1
            return 400, {"error": str(exc)}
        self.record(alerts)
        return 200, {"status": "ok", "alerts": len(alerts)}

    @staticmethod
    async def _send(
        conn: h11.Connection, writer: asyncio.StreamWriter, status: int, body: dict[str, Any]
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        data = json.dumps(body).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(data)))]
        if status >= 400 and conn.their_state is not h11.DONE:
            # the rest of the request body is unread: the connection cannot be reused
            headers.append(("connection", "close"))
        writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
        writer.write(conn.send(h11.Data(data=data)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        async with asyncio.timeout(_IDLE_TIMEOUT):
            await writer.drain()


def new_run_id() -> str:
    """A random run id fit for a URL path."""
    return secrets.token_hex(8)
