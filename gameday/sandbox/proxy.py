"""Fault proxy: one asyncio process forwarding every sandbox link, with per-link faults.

Each link listens on its own port and forwards to its upstream. Per link the control
API sets ``open``, ``cut`` (``blackhole``: nothing flows, connections hang like a real
partition; ``reset``: connections are reset and new ones closed at once) or
``latency`` (added delay per direction, in ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import struct
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from gameday.sandbox.events import EventLog
from gameday.sandbox.httpd import Request, Response, error, json_response, serve
from gameday.sandbox.state import LinkInfo, load_state

LinkStateName = Literal["open", "cut", "latency"]
CutMode = Literal["blackhole", "reset"]
CHUNK = 65536
QUEUE_CHUNKS = 256
MAX_PENDING = 1000
CONNECT_TIMEOUT_S = 5.0

log = logging.getLogger("gameday.sandbox.proxy")


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0) rather than a graceful FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Conn:
    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        for t in self.tasks:
            t.cancel()
        _rst(self.client)
        if self.upstream is not None:
            _rst(self.upstream)


class Link:
    """One forwarded link and its fault state."""

    def __init__(self, info: LinkInfo) -> None:
        self.info = info
        self.state: LinkStateName = "open"
        self.mode: CutMode = "blackhole"
        self.latency_ms = 0.0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.conns: set[_Conn] = set()
        self.server: asyncio.Server | None = None
        self.accepted = 0

    def describe(self) -> dict[str, Any]:
        """JSON form of the link and its state."""
        return {
            **self.info.model_dump(),
            "state": self.state,
            "mode": self.mode if self.state == "cut" else None,
            "latency_ms": self.latency_ms,
            "connections": len(self.conns),
            "accepted": self.accepted,
        }

    async def start(self) -> None:
        """Start listening."""
        self.server = await asyncio.start_server(
            self._on_conn, "127.0.0.1", self.info.listen_port, backlog=512, reuse_address=True
        )

    def apply(
        self, state: LinkStateName, mode: CutMode = "blackhole", latency_ms: float = 0.0
    ) -> None:
        """Change the link's state; a reset cut drops every open connection now."""
        self.state = state
        self.mode = mode
        self.latency_ms = latency_ms if state == "latency" else 0.0
        if state == "cut":
            self.flowing.clear()
            if mode == "reset":
                for conn in list(self.conns):
                    conn.reset()
                self.conns.clear()
        else:
            self.flowing.set()

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if (self.state == "cut" and self.mode == "reset") or len(self.conns) >= MAX_PENDING:
            _rst(writer)
            return
        conn = _Conn(writer)
        self.conns.add(conn)
        try:
            # blackhole: the connection is accepted but nothing happens until restored
            await self.flowing.wait()
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.info.upstream_port),
                    CONNECT_TIMEOUT_S,
                )
            except (OSError, TimeoutError):
                _rst(writer)
                return
            conn.upstream = up_writer
            conn.tasks = [
                asyncio.create_task(self._pump(reader, up_writer)),
                asyncio.create_task(self._pump(up_reader, writer)),
            ]
            await asyncio.gather(*conn.tasks, return_exceptions=True)
        finally:
            self.conns.discard(conn)
            for w in (writer, conn.upstream):
                if w is not None:
                    w.close()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)

        async def read_side() -> None:
            while True:
                try:
                    data = await src.read(CHUNK)
                except (ConnectionError, OSError):
                    data = b""
                await queue.put((time.monotonic() + self.latency_ms / 1000.0, data))
                if not data:
                    return

        reader_task = asyncio.create_task(read_side())
        try:
            while True:
                due, data = await queue.get()
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                # a blackholed link holds data in flight until it is restored
                await self.flowing.wait()
                if not data:
                    with contextlib.suppress(OSError, RuntimeError):
                        if dst.can_write_eof():
                            dst.write_eof()
                    return
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            return
        finally:
            reader_task.cancel()


def select_links(
    links: Iterable[LinkInfo],
    names: list[str] | None = None,
    touching: list[str] | None = None,
    between: tuple[list[str], list[str]] | None = None,
) -> list[str]:
    """Names of the links matching every given criterion.

    ``touching``: src or dst is one of these services. ``between``: one end in each
    group, in either direction. No criterion selects nothing.
    """
    if names is None and touching is None and between is None:
        return []
    out: list[str] = []
    for link in links:
        if names is not None and link.name not in names:
            continue
        if touching is not None and link.src not in touching and link.dst not in touching:
            continue
        if between is not None:
            a, b = set(between[0]), set(between[1])
            if not ((link.src in a and link.dst in b) or (link.src in b and link.dst in a)):
                continue
        out.append(link.name)
    return out


def _parse_change(body: Any) -> tuple[LinkStateName, CutMode, float]:
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    state = body.get("state", "open")
    mode = body.get("mode", "blackhole")
    latency = float(body.get("latency_ms", 0.0))
    if state not in ("open", "cut", "latency"):
        raise ValueError("state must be open, cut or latency")
    if mode not in ("blackhole", "reset"):
        raise ValueError("mode must be blackhole or reset")
    if state == "latency" and not 0 < latency <= 60000:
        raise ValueError("latency_ms must be in (0, 60000]")
    return state, mode, latency


class FaultProxy:
    """Hosts every link and the control API."""

    def __init__(self, links: list[LinkInfo], admin_port: int, events: EventLog | None) -> None:
        self.links = {info.name: Link(info) for info in links}
        self.admin_port = admin_port
        self.events = events
        self.admin: asyncio.Server | None = None

    async def start(self) -> None:
        """Open every listener and the control API."""
        for link in self.links.values():
            await link.start()
        self.admin = await serve(self.handle, self.admin_port)

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        for link in self.links.values():
            if link.server is not None:
                link.server.close()
            for conn in list(link.conns):
                conn.reset()
        if self.admin is not None:
            self.admin.close()

    def _change(self, names: list[str], state: LinkStateName, mode: CutMode, lat: float) -> None:
        for name in names:
            self.links[name].apply(state, mode, lat)
        if self.events is not None and names:
            self.events.emit(
                "link_changed",
                links=names,
                state=state,
                mode=mode if state == "cut" else None,
                latency_ms=lat if state == "latency" else 0.0,
            )

    async def handle(self, req: Request) -> Response:
        """Control API: GET /links, GET|POST /links/<name>, POST /apply, POST /restore."""
        path = req.path.rstrip("/")
        if path == "/health":
            return json_response(200, {"status": "ok"})
        if path == "/links" and req.method == "GET":
            return json_response(200, {"links": [lk.describe() for lk in self.links.values()]})
        try:
            if path.startswith("/links/"):
                name = path[len("/links/") :]
                link = self.links.get(name)
                if link is None:
                    return error(404, f"no link {name}")
                if req.method == "GET":
                    return json_response(200, link.describe())
                if req.method == "POST":
                    self._change([name], *_parse_change(req.json()))
                    return json_response(200, link.describe())
                return error(405, "use GET or POST")
            if path == "/apply" and req.method == "POST":
                body = req.json()
                state, mode, lat = _parse_change(body)
                between = body.get("between")
                if between is not None and (not isinstance(between, list) or len(between) != 2):
                    raise ValueError("between must be [[services...], [services...]]")
                names = select_links(
                    [lk.info for lk in self.links.values()],
                    names=body.get("names"),
                    touching=body.get("touching"),
                    between=(list(between[0]), list(between[1])) if between else None,
                )
                self._change(names, state, mode, lat)
                return json_response(200, {"changed": names})
            if path == "/restore" and req.method == "POST":
                names = [n for n, lk in self.links.items() if lk.state != "open"]
                self._change(list(self.links), "open", "blackhole", 0.0)
                return json_response(200, {"restored": names})
        except (ValueError, TypeError, KeyError) as exc:
            return error(400, str(exc))
        return error(404, "not found")


async def _main(state_dir: Path) -> None:
    state = load_state(state_dir)
    events = EventLog(state_dir, "proxy")
    proxy = FaultProxy(list(state.links.values()), state.components["proxy"].port, events)
    await proxy.start()
    events.emit("started", links=len(proxy.links))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    events.emit("stopped")
    await proxy.close()


def main() -> None:
    """Entry point: ``python -m gameday.sandbox.proxy --state-dir DIR``."""
    parser = argparse.ArgumentParser(prog="gameday.sandbox.proxy")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--name", default="proxy")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s proxy %(levelname)s %(message)s")
    asyncio.run(_main(args.state_dir))


if __name__ == "__main__":
    main()
