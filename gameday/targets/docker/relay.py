"""A small threaded TCP relay: lets containers reach a service that listens on 127.0.0.1.

The drill's alert receiver binds 127.0.0.1; the alerting container posts to the host side
of its Docker network instead, and this relay carries the connection on.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpRelay:
    """Listens on ``listen_host`` (an ephemeral port) and forwards to ``to_host:to_port``."""

    def __init__(self, listen_host: str, to_host: str, to_port: int) -> None:
        self.to = (to_host, to_port)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((listen_host, 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="alert-relay", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.to, timeout=5.0)
        except OSError:
            client.close()
            return
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)

    def close(self) -> None:
        """Stop accepting (connections in flight finish on their own)."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        # half-close so the peer sees the end of the request, then let both go
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            src.close()
