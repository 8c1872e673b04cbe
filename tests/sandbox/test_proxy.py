"""The fault proxy against a local echo server: open, cut (blackhole, reset), latency, restore."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from gameday.ports import free_port
from gameday.sandbox.proxy import FaultProxy
from gameday.sandbox.state import LinkInfo


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _roundtrip(port: int, payload: bytes = b"ping", timeout: float = 1.0) -> bytes:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), timeout)
    finally:
        writer.close()


Scenario = Callable[[FaultProxy, int, str], Awaitable[None]]


def _run(scenario: Scenario) -> None:
    async def main() -> None:
        echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
        echo_port = echo.sockets[0].getsockname()[1]
        link = LinkInfo(
            name="a-to-b", src="a", dst="b", listen_port=free_port(), upstream_port=echo_port
        )
        proxy = FaultProxy([link], free_port(), None)
        await proxy.start()
        admin = f"http://127.0.0.1:{proxy.admin_port}"
        try:
            await scenario(proxy, link.listen_port, admin)
        finally:
            await proxy.close()
            echo.close()

    asyncio.run(asyncio.wait_for(main(), 30))


async def _post(url: str, body: dict[str, object]) -> httpx.Response:
    async with httpx.AsyncClient() as c:
        return await c.post(url, json=body)


def test_open_link_forwards() -> None:
    async def scenario(proxy: FaultProxy, port: int, admin: str) -> None:
        assert await _roundtrip(port) == b"ping"
        async with httpx.AsyncClient() as c:
            links = (await c.get(f"{admin}/links")).json()["links"]
        assert links[0]["name"] == "a-to-b" and links[0]["state"] == "open"

    _run(scenario)


def test_blackhole_hangs_then_resumes_on_restore() -> None:
    async def scenario(proxy: FaultProxy, port: int, admin: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        r = await _post(f"{admin}/links/a-to-b", {"state": "cut", "mode": "blackhole"})
        assert r.json()["state"] == "cut"
        writer.write(b"held")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.readexactly(4), 0.3)  # existing connection hangs
        with pytest.raises(TimeoutError):
            await _roundtrip(port, timeout=0.3)  # new connection accepted but silent
        r = await _post(f"{admin}/restore", {})
        assert r.json()["restored"] == ["a-to-b"]
        assert await asyncio.wait_for(reader.readexactly(4), 1.0) == b"held"
        writer.close()

    _run(scenario)


def test_reset_drops_existing_and_refuses_new() -> None:
    async def scenario(proxy: FaultProxy, port: int, admin: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x")
        await writer.drain()
        assert await reader.readexactly(1) == b"x"
        r = await _post(f"{admin}/apply", {"touching": ["b"], "state": "cut", "mode": "reset"})
        assert r.json()["changed"] == ["a-to-b"]
        data = b""
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            data = await asyncio.wait_for(reader.readexactly(1), 1.0)
        assert data == b""
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await _roundtrip(port)
        await _post(f"{admin}/links/a-to-b", {"state": "open"})
        assert await _roundtrip(port) == b"ping"

    _run(scenario)


def test_latency_is_added_per_direction() -> None:
    async def scenario(proxy: FaultProxy, port: int, admin: str) -> None:
        r = await _post(f"{admin}/links/a-to-b", {"state": "latency", "latency_ms": 100})
        assert r.json()["latency_ms"] == 100
        t0 = time.monotonic()
        assert await _roundtrip(port) == b"ping"
        rtt = time.monotonic() - t0
        assert 0.2 <= rtt < 0.6  # 100 ms each way
        bad = await _post(f"{admin}/links/a-to-b", {"state": "latency", "latency_ms": -1})
        assert bad.status_code == 400

    _run(scenario)
