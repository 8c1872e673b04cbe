"""HTTP probe: status, body text and latency; Server-Timing hops and X-Served-By."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import time
from dataclasses import dataclass, field

import aiohttp
import certifi

from ...scenarios.model import HttpProbe
from ...scenarios.units import format_duration
from .base import Observation, Prober, describe_error, short, timeout_detail


@dataclass(frozen=True)
class ServerTiming:
    """Parsed Server-Timing: durations in seconds and desc values per metric name."""

    durations: dict[str, float] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)


def _split_unquoted(text: str, sep: str) -> list[str]:
    """Split on `sep` outside double quotes (a desc may contain commas or semicolons)."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            buf.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            buf.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            buf.append(ch)
        elif ch == sep and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        out: list[str] = []
        it = iter(inner)
        for ch in it:
            out.append(next(it, "") if ch == "\\" else ch)
        return "".join(out)
    return value


def parse_server_timing(header: str | None) -> ServerTiming:
    """Parse `gateway;dur=12.3, db;dur=7.5;desc="db-primary"` (dur in ms) into seconds."""
    timing = ServerTiming()
    if not header:
        return timing
    for entry in _split_unquoted(header, ","):
        params = _split_unquoted(entry, ";")
        name = params[0].strip()
        if not name:
            continue
        for param in params[1:]:
            key, _, raw = param.partition("=")
            key = key.strip().lower()
            if key == "dur":
                with contextlib.suppress(ValueError):
                    dur = float(_unquote(raw))
                    if dur >= 0:
                        timing.durations[name] = dur / 1000.0
            elif key == "desc":
                timing.descriptions[name] = _unquote(raw)
    return timing


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Certificate checks against certifi's CA bundle, built once per process (~35 ms)."""
    return ssl.create_default_context(cafile=certifi.where())


class HttpProber(Prober[HttpProbe]):
    """One shared aiohttp session; dropped and rebuilt after any transport failure.

    aiohttp rather than httpx: its C parser makes a sample cost about half the CPU
    (bench/probes.py: 562 vs 1,125 µs), which is what bounds samples per second on one core.
    """

    def __init__(self, model: HttpProbe) -> None:
        super().__init__(model)
        self._client: aiohttp.ClientSession | None = None
        self._users: dict[int, int] = {}  # in-flight requests per session, to close retired ones
        self._retired: set[int] = set()
        self._clients: dict[int, aiohttp.ClientSession] = {}
        self._closed = False

    def _new_client(self) -> aiohttp.ClientSession:
        # keep-alive keeps a healthy probe cheap; a failure retires the whole pool so a
        # stale pooled connection can never hide (or outlive) a network cut
        connector = aiohttp.TCPConnector(ssl=_tls_context(), limit=0, keepalive_timeout=15.0)
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            trust_env=False,
            auto_decompress=True,
        )

    def _acquire(self) -> aiohttp.ClientSession:
        if self._client is None:
            self._client = self._new_client()
            self._clients[id(self._client)] = self._client
        key = id(self._client)
        self._users[key] = self._users.get(key, 0) + 1
        return self._client

    async def _release(self, client: aiohttp.ClientSession, failed: bool) -> None:
        key = id(client)
        self._users[key] -= 1
        if failed and client is self._client:
            self._client = None
            self._retired.add(key)
        # a retired session is closed once its last in-flight request is done
        if key in self._retired and self._users[key] == 0:
            self._retired.discard(key)
            self._users.pop(key, None)
            self._clients.pop(key, None)
            with contextlib.suppress(Exception):
                await client.close()

    async def sample(self) -> Observation:
        """Send the request once and judge status, body and latency."""
        if self._closed:
            return Observation(False, detail="probe closed")
        m = self.model
        client = self._acquire()
        failed = True
        start = time.monotonic()
        try:
            async with (
                asyncio.timeout(self.timeout),
                client.request(
                    m.method,
                    m.url,
                    headers=m.headers,
                    data=m.body.encode() if m.body is not None else None,
                    allow_redirects=False,
                ) as resp,
            ):
                body = await resp.read()
            latency = time.monotonic() - start
            failed = False
        except TimeoutError:
            return Observation(False, detail=timeout_detail(self.timeout))
        except Exception as exc:
            return Observation(False, detail=describe_error(exc))
        finally:
            await self._release(client, failed)
        timing = parse_server_timing(resp.headers.get("server-timing"))
        served_by = resp.headers.get("x-served-by")
        ok, detail = True, ""
        if resp.status not in m.expect_status:
            ok, detail = False, f"status {resp.status}"
        elif m.body_contains is not None and m.body_contains not in _text(body, resp.charset):
            ok, detail = False, short(f"body lacks {m.body_contains!r}")
        elif m.max_latency is not None and latency > m.max_latency:
            ok = False
            detail = (
                f"slow: {format_duration(round(latency, 3))} > {format_duration(m.max_latency)}"
            )
        return Observation(
            ok,
            latency=latency,
            value=resp.status,
            detail=detail,
            hops=timing.durations or None,
            served_by=served_by,
            hop_desc=timing.descriptions or None,
        )

    async def close(self) -> None:
        """Close every session, including retired ones still referenced."""
        self._closed = True
        clients = list(self._clients.values())
        self._clients.clear()
        self._client = None
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()


def _text(body: bytes, charset: str | None) -> str:
    """The body as text: its declared charset, else UTF-8; undecodable bytes never raise."""
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")
