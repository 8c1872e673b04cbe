"""Kill the primary of a fresh sandbox: no promotion while disabled, then promotion and no loss."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from gameday.sandbox import manage
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.events import read_events
from gameday.sandbox.settings import SandboxSettings
from gameday.sandbox.state import pid_alive

from .conftest import new_state_dir, sandbox_pids

pytestmark = pytest.mark.slow


def test_kill_primary_promotes_standby_without_losing_payments() -> None:
    t0 = time.monotonic()
    state = manage.up(SandboxSettings(state_dir=new_state_dir()))
    up_s = time.monotonic() - t0
    sd = Path(state.state_dir)
    try:
        assert up_s < 15, f"up took {up_s:.1f}s"
        acked: list[int] = []
        stop = threading.Event()

        def writer() -> None:
            deadline = time.monotonic() + 40
            with httpx.Client(timeout=5) as c:
                while not stop.is_set() and time.monotonic() < deadline:
                    try:
                        r = c.post(
                            f"{state.gateway_url}/pay", json={"account": "ledger", "amount": 1}
                        )
                    except httpx.HTTPError:
                        continue
                    if r.status_code == 200:
                        acked.append(int(r.json()["id"]))
                    time.sleep(0.02)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            with SandboxClient(state) as admin:
                admin.set_failover_enabled(False)
                time.sleep(1.0)
                pid = manage.kill_component(sd, "db-primary")
                assert pid is not None
                time.sleep(2.0)  # several failed checks, but promotion is disabled
                assert manage.status(sd).writer == "db-primary"
                n_before = len(acked)
                admin.set_failover_enabled(True)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and len(acked) < n_before + 20:
                    time.sleep(0.1)
                assert len(acked) >= n_before + 20, "payments did not resume after promotion"
        finally:
            stop.set()
            thread.join(10)

        events = read_events(sd)
        names = [e["event"] for e in events]
        assert "failover_skipped" in names and "promoted" in names and "writer_repointed" in names
        promoted = next(e for e in events if e["event"] == "promoted")
        enabled = next(e for e in events if e["event"] == "failover_enabled")
        assert promoted["t_mono"] >= enabled["t_mono"]
        assert manage.status(sd).component("db-standby").role == "primary (writer)"

        with psycopg.connect(state.dsn("db-standby"), autocommit=True) as conn:
            rows = {r[0] for r in conn.execute("SELECT id FROM payments WHERE account = 'ledger'")}
        lost = set(acked) - rows
        assert not lost, f"{len(lost)} acknowledged payments lost"

        # the crashed old primary comes back only as a standby of the new one
        manage.start_component(sd, "db-primary")
        with psycopg.connect(state.dsn("db-primary"), autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            assert row is not None and row[0] is True
        with httpx.Client(timeout=5) as c:
            r = c.post(f"{state.gateway_url}/pay", json={"account": "ledger", "amount": 1})
            assert r.status_code == 200 and r.json()["db"] == "db-standby"
        # kill a Python component too: down must still leave nothing behind
        manage.kill_component(sd, "gateway")
    finally:
        pids = sandbox_pids(state)
        report = manage.down(sd)
        shutil.rmtree(sd, ignore_errors=True)
    assert report.stopped
    assert not [p for p in pids if pid_alive(p)]
    assert not sandbox_pids(state)
    shm = Path("/proc/sysvipc/shm").read_text().split("\n")[1:]
    assert not any(line.split() and int(line.split()[1]) in state.shm_ids for line in shm)
    ports = [c.port for c in state.components.values()]
    import socket

    for port in ports:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
