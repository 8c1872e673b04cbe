"""A minimal asyncio HTTP/1.1 server (keep-alive, Content-Length bodies) for the components."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20
MAX_HEADERS = 100
IDLE_TIMEOUT_S = 75.0

_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Request:
    """A parsed HTTP request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not)."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """An HTTP response to send."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


Handler = Callable[[Request], Awaitable[Response]]


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return Response(status, body, dict(headers or {}))


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A JSON error response ``{"error": message}``."""
    return json_response(status, {"error": message}, headers)


async def _read_request(reader: asyncio.StreamReader) -> tuple[Request, bool] | None:
    line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT_S)
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3:
        raise ValueError("bad request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise ValueError("chunked bodies are not supported")
    length = int(headers.get("content-length", "0") or "0")
    if length < 0 or length > MAX_BODY:
        raise ValueError("body too large")
    body = await reader.readexactly(length) if length else b""
    split = urlsplit(target)
    query = {k: v[-1] for k, v in parse_qs(split.query).items()}
    keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    return Request(method.upper(), split.path, query, headers, body), keep_alive


def _encode(resp: Response, keep_alive: bool) -> bytes:
    reason = _REASONS.get(resp.status, "Status")
    head = [f"HTTP/1.1 {resp.status} {reason}"]
    hdrs = {"Content-Type": resp.content_type, **resp.headers}
    hdrs["Content-Length"] = str(len(resp.body))
    hdrs["Connection"] = "keep-alive" if keep_alive else "close"
    head += [f"{k}: {v}" for k, v in hdrs.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + resp.body


async def _serve_conn(
    handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            try:
                parsed = await _read_request(reader)
            except (ValueError, UnicodeDecodeError) as exc:
                writer.write(_encode(error(400, str(exc)), False))
                await writer.drain()
                return
            if parsed is None:
                return
            req, keep_alive = parsed
            try:
                resp = await handler(req)
            except Exception:  # a handler bug must not kill the connection loop silently
                log.exception("handler failed for %s %s", req.method, req.path)
                resp = error(500, "internal error")
            writer.write(_encode(resp, keep_alive))
            await writer.drain()
            if not keep_alive:
                return
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def serve(handler: Handler, port: int, host: str = "127.0.0.1") -> asyncio.Server:
    """Start serving ``handler`` on ``host:port`` and return the server."""

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _serve_conn(handler, reader, writer)
        except asyncio.CancelledError:
            # the component stopping (asyncio.run cancels its idle keep-alive connections):
            # the connection is closed; Python 3.11's streams would log each one as an error
            return

    return await asyncio.start_server(on_conn, host, port, backlog=512, reuse_address=True)
