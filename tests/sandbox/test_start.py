"""Start-up survives a port that was free when picked and taken before our part bound it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gameday.sandbox import manage, startup

from .conftest import running_sandbox

pytestmark = pytest.mark.slow


def test_start_over_on_other_ports_when_one_was_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    picked = startup.free_ports
    calls: list[list[int]] = []
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]

        def first_pick_is_taken(n: int, host: str = "127.0.0.1") -> list[int]:
            ports = picked(n, host)
            if not calls:
                ports[0] = taken  # the proxy's port: bound by someone else meanwhile
            calls.append(ports)
            return ports

        monkeypatch.setattr(startup, "free_ports", first_pick_is_taken)
        with running_sandbox() as state:
            assert len(calls) == 2
            assert taken not in {c.port for c in state.components.values()}
            status = manage.status(Path(state.state_dir))
            assert status.running and all(c.healthy for c in status.components), status
