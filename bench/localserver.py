"""A minimal keep-alive HTTP/1.1 server on 127.0.0.1, in its own process pinned to one core.

The probe and traffic benchmarks measure gameday, not a server: this one answers every
request with a fixed 200 (with the Server-Timing and X-Served-By headers the sandbox sends, so
the probe's parsing path runs) from a single asyncio protocol, a few µs per request.

`python -m bench.localserver --cpu 1` prints the port, serves until SIGTERM or until its
stdin closes (so it never outlives the benchmark), then prints how many requests it answered.
``GET /_bench/count`` answers the count so far (not counted itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bench.common import REPO

COUNT_PATH = b"/_bench/count"  # the benchmarks' own reads of the count; not counted
_BODY = b"ok"
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain\r\n"
    b'Server-Timing: gateway;dur=1.2, upstream;dur=1.0, api;dur=0.8, db;dur=0.5;desc="db-primary"\r\n'
    b"X-Served-By: api-a/v1\r\n"
    b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


class _Http(asyncio.Protocol):
    served = 0

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        # requests may arrive pipelined or split across reads: answer each complete one
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            length = 0
            pos = head.find(b"\r\ncontent-length:")
            if pos >= 0:
                length = int(head[pos + 17 :].split(b"\r\n", 1)[0])
            total = end + 4 + length
            if len(self.buf) < total:
                return
            self.buf = self.buf[total:]
            assert self.transport is not None
            if head.startswith(b"get " + COUNT_PATH):
                # the monotonic clock is system-wide: the caller compares it with its own
                body = json.dumps({"served": _Http.served, "t": time.monotonic()}).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                continue
            self.transport.write(_RESPONSE)
            _Http.served += 1


async def _serve(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Http, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)
    # stdin closes when the parent goes away, however it goes: never outlive the benchmark
    threading.Thread(
        target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(done.set)), daemon=True
    ).start()
    await done.wait()
    server.close()
    print(json.dumps({"served": _Http.served}), flush=True)


@dataclass
class Server:
    """A running local server: its port, and after it stopped, how many requests it answered."""

    port: int
    pid: int
    served: int | None = None

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    def count(self) -> tuple[int, float]:
        """(requests answered so far, the server's monotonic time when it answered)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", COUNT_PATH.decode())
            data = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        return int(data["served"]), float(data["t"])


@contextlib.contextmanager
def serve(cpu: int | None = None) -> Iterator[Server]:
    """Start the server in its own process (pinned to `cpu`); always stopped afterwards."""
    cmd = [sys.executable, "-m", "bench.localserver"]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    server = Server(port=0, pid=proc.pid)
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the local HTTP server did not start")
        server.port = int(json.loads(line)["port"])
        yield server
    finally:
        proc.terminate()  # communicate() then closes its stdin too
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        for line in out.splitlines():
            with contextlib.suppress(ValueError, KeyError):
                server.served = int(json.loads(line)["served"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cpu", type=int, help="pin the server to this core")
    args = parser.parse_args()
    asyncio.run(_serve(args.cpu))


if __name__ == "__main__":
    main()
