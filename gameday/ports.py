"""TCP ports for servers that bind later: free now, and outside the kernel's ephemeral range.

A port from ``bind(("127.0.0.1", 0))`` comes from the ephemeral range, which every outgoing
connection on the machine also draws its local port from: by the time a sandbox component
binds it, a client may hold it (seen with two drills side by side: "address already in
use"). Ports below that range are never handed out to outgoing connections.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000  # clear of well-known and commonly configured service ports


def _ephemeral_start() -> int:
    try:
        low = int(_PORT_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default range starts here
    return low


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports nobody listens on or uses on ``host`` now, below the ephemeral range."""
    top = _ephemeral_start()
    if top - _LOWEST < 4 * n:
        return _ephemeral_ports(n, host)  # a machine whose range leaves no room below it
    chosen: list[int] = []
    for port in random.sample(range(_LOWEST, top), k=min(top - _LOWEST, 64 * n)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        chosen.append(port)
        if len(chosen) == n:
            return chosen
    raise OSError(f"no {n} free TCP ports on {host} between {_LOWEST} and {top}")


def free_port(host: str = "127.0.0.1") -> int:
    """One port as `free_ports` picks them."""
    return free_ports(1, host)[0]


def _ephemeral_ports(n: int, host: str) -> list[int]:
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((host, 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()
