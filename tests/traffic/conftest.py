"""Fixtures for traffic tests: a tiny payment API on 127.0.0.1 that counts what it serves."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest


@dataclass
class FakeApi:
    """Server-side truth: requests per (path, outcome) and per X-Served-By."""

    url: str
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    served_by: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seq: Counter[str] = field(default_factory=Counter)

    def total(self, path: str | None = None) -> int:
        """Requests answered, for one path or all."""
        with self.lock:
            return sum(n for (p, _), n in self.counts.items() if path is None or p == path)

    def outcome(self, path: str, outcome: str) -> int:
        """Requests on `path` answered with `outcome` (ok, shed, circuit, error_5xx, error_other)."""
        with self.lock:
            return self.counts[(path, outcome)]


def _make_handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real API would

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self) -> None:
            path = urlsplit(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with api.lock:
                api.seq[path] += 1
                n = api.seq[path]
            served = "api-a/v1" if n % 3 else "api-b/v2"
            headers: dict[str, str] = {"X-Served-By": served}
            # deterministic mix: coupons shed every 2nd call, balance circuit-open every
            # 5th and a plain 503 every 7th, pay a 500 every 11th, /missing a 404
            if path == "/coupons" and n % 2 == 0:
                status, outcome = 429, "shed"
            elif path == "/balance" and n % 5 == 0:
                status, outcome = 503, "circuit"
                headers["X-Circuit"] = "open"
            elif path == "/balance" and n % 7 == 0:
                status, outcome = 503, "error_5xx"
            elif path == "/pay" and n % 11 == 0:
                status, outcome = 500, "error_5xx"
            elif path in ("/pay", "/balance", "/coupons"):
                status, outcome = 200, "ok"
            else:
                status, outcome = 404, "error_other"
            body = json.dumps({"ok": status == 200}).encode()
            with api.lock:
                api.counts[(path, outcome)] += 1
                api.served_by[(path, served)] += 1
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _answer
        do_POST = _answer

    return Handler


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    """A ThreadingHTTPServer on 127.0.0.1:<free port> answering /pay, /balance, /coupons."""
    api = FakeApi(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(api))
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
