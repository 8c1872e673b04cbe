"""Ports for servers that bind later come from below the kernel's ephemeral range."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gameday import ports


def test_ports_are_free_distinct_and_below_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    chosen = ports.free_ports(20)
    assert len(set(chosen)) == 20
    assert all(10_000 <= p < low for p in chosen)
    for port in chosen:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_never_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        # a range of 21 ports around the busy one: every pick skips it
        monkeypatch.setattr(ports, "_LOWEST", taken - 10)
        monkeypatch.setattr(ports, "_ephemeral_start", lambda: taken + 11)
        for _ in range(20):
            assert taken not in ports.free_ports(5)
