"""The sandbox driver against a real sandbox: each fault's real effect, its revert, and recover
after a runner is SIGKILLed mid-drill."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gameday.runners.journal import read_journal
from gameday.runners.recover import cmd_recover, recover
from gameday.sandbox import manage
from gameday.sandbox.state import load_state, read_writer
from gameday.scenarios.model import (
    CrashFault,
    GrayReleaseFault,
    LatencyFault,
    NetworkCutFault,
    PauseFault,
    SandboxSettings,
)
from gameday.targets import TargetError, UnknownService
from gameday.targets.registry import sandbox_services
from gameday.targets.sandbox import SandboxDriver, proc_state

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def driver() -> Iterator[SandboxDriver]:
    # PostgreSQL runs as an unprivileged user: the state dir must be enterable by it
    sd = Path(tempfile.mkdtemp(prefix="gameday-safety-", dir="/tmp"))
    sd.chmod(0o755)
    drv = SandboxDriver(sd, SandboxSettings(rollout_interval="30s"))
    try:
        assert drv.ensure_running() is True
        wait_healthy(drv)
        yield drv
    finally:
        drv.close()  # it started the sandbox: this takes it down
        assert not drv.running()
        shutil.rmtree(sd, ignore_errors=True)


def wait_healthy(drv: SandboxDriver, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    health = drv.health()
    while not health.ok and time.monotonic() < deadline:
        time.sleep(0.25)
        health = drv.health()
    assert health.ok, health.summary


def link_port(drv: SandboxDriver, src: str, dst: str) -> int:
    return load_state(drv.state_dir).link(src, dst).listen_port


def http_through(port: int, timeout_s: float = 1.0) -> str:
    """'ok', 'refused' (reset/closed) or 'hangs' for GET /health through a link."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
            s.settimeout(timeout_s)
            s.sendall(b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n")
            data = s.recv(64)
    except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError):
        return "refused"
    except TimeoutError:
        return "hangs"
    return "ok" if data.startswith(b"HTTP/1.") else "refused"


def test_preflight_names_unknown_services(driver: SandboxDriver) -> None:
    problems = driver.preflight({"db-primary", "site-b", "db-primry"})
    assert problems == [
        "unknown service 'db-primry' (did you mean 'db-primary'?); the sandbox has: "
        + ", ".join(sorted(driver.known_services()))
    ]
    assert isinstance(problems[0], UnknownService)  # bad input: exit 2, nothing applied
    # `validate` knows the same names from the topology alone, without a running sandbox
    assert set(driver.known_services()) == sandbox_services()
    v = driver.variables()
    assert "target_session_attrs=read-write" in v["db_dsn"]
    assert driver.secrets() == [v["db_password"]]
    with psycopg.connect(v["db_dsn"], autocommit=True) as conn:
        assert conn.execute("SELECT NOT pg_is_in_recovery()").fetchone() == (True,)
    t = driver.timings()
    assert t.failover_floor_s is not None and t.failover_floor_s > 0.9
    with pytest.raises(TargetError, match="unknown target type"):
        from gameday.targets import target_from_spec

        target_from_spec("mainframe", {})


def test_network_cut_reset_and_blackhole(driver: SandboxDriver) -> None:
    port = link_port(driver, "gateway", "api-b")
    assert http_through(port) == "ok"
    for mode, effect in (("reset", "refused"), ("blackhole", "hangs")):
        plan = driver.plan(NetworkCutFault(action="network-cut", service="api-b", mode=mode))
        assert "gateway-to-api-b" in plan.touches
        assert "api-b-to-db-primary" in plan.touches
        driver.apply(plan)
        assert http_through(port) == effect
        driver.revert(plan)
        driver.revert(plan)  # idempotent
        assert http_through(port) == "ok"
    wait_healthy(driver)


def test_pause_stops_every_postgres_process(driver: SandboxDriver) -> None:
    plan = driver.plan(PauseFault(action="pause", service="db-standby"))
    result = driver.apply(plan)
    pids = result["paused"]["db-standby"]
    assert len(pids) > 2  # the postmaster and its backends
    assert {proc_state(p) for p in pids} == {"T"}
    driver.revert(plan)
    assert "T" not in {proc_state(p) for p in pids}
    wait_healthy(driver)


def test_latency_on_one_link_is_measurable(driver: SandboxDriver) -> None:
    state = load_state(driver.state_dir)
    writer = str(read_writer(driver.state_dir)["writer"])
    dsn = state.dsn(writer, via="api-a")

    def round_trip(conn: psycopg.Connection[tuple[object, ...]]) -> float:
        t0 = time.perf_counter()
        conn.execute("SELECT 1").fetchone()
        return time.perf_counter() - t0

    with psycopg.connect(dsn, autocommit=True) as conn:
        before = round_trip(conn)
        plan = driver.plan(LatencyFault(action="latency", link=f"api-a->{writer}", delay="200ms"))
        assert plan.touches == (f"api-a-to-{writer}",)
        driver.apply(plan)
        during = round_trip(conn)
        driver.revert(plan)
        after = round_trip(conn)
    assert before < 0.05 and after < 0.05
    assert 0.19 < during < 0.4
    wait_healthy(driver)


def test_gray_release_started_then_aborted(driver: SandboxDriver) -> None:
    plan = driver.plan(
        GrayReleaseFault(action="gray-release", version="v2-faulty", steps=["5%", "20%"])
    )
    driver.apply(plan)
    status = driver.client.rollout_status()["rollout"]
    assert status["status"] == "running" and status["version"] == "v2-faulty"
    time.sleep(0.2)
    assert driver.client.gateway_status()["weights"]["canary"] == 5.0
    driver.revert(plan)
    driver.revert(plan)  # nothing running any more: still fine
    assert driver.client.rollout_status()["rollout"]["status"] == "aborted"
    assert driver.client.gateway_status()["weights"]["canary"] == 0.0
    wait_healthy(driver)
    # the canary instance is back on the version the drill found (the kill campaign caught an
    # abort right after the start leaving it on v2-faulty)
    versions = {c.name: c.version for c in manage.status(driver.state_dir).components}
    assert versions["api-canary"] == "v1"


def test_crash_primary_fails_over_and_rejoins_as_standby(driver: SandboxDriver) -> None:
    writer = str(read_writer(driver.state_dir)["writer"])
    plan = driver.plan(CrashFault(action="crash", service=writer))
    killed = driver.apply(plan)["killed"][writer]
    assert killed and proc_state(killed) in (None, "Z")
    deadline = time.monotonic() + 15
    while read_writer(driver.state_dir)["writer"] == writer and time.monotonic() < deadline:
        time.sleep(0.1)
    assert read_writer(driver.state_dir)["writer"] != writer, "the standby was not promoted"
    result = driver.revert(plan)
    assert result["started"][writer] != killed
    wait_healthy(driver)
    roles = {c.name: c.role for c in manage.status(driver.state_dir).components}
    assert roles[writer] == "standby"  # no split brain


DYING_RUNNER = """
import os, signal, sys
from pathlib import Path
from gameday.runners.journal import Journal
from gameday.scenarios.model import LatencyFault, NetworkCutFault, PauseFault
from gameday.targets.sandbox import SandboxDriver

sd, run_dir, index_dir = sys.argv[1:4]
drv = SandboxDriver(sd)
j = Journal.open(Path(run_dir), index_dir=Path(index_dir))
j.drill_started("sigkill", drv.name, drv.spec())
for fault in (
    NetworkCutFault(action="network-cut", service="api-canary"),
    PauseFault(action="pause", service="api-b"),
):
    plan = drv.plan(fault)
    j.fault_applied(j.fault_planned(plan), drv.apply(plan))
# journaled, then the runner dies before applying it: recover must still handle it
j.fault_planned(drv.plan(LatencyFault(action="latency", service="gateway", delay="1s")))
print("applied", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_recover_after_the_runner_is_sigkilled(
    driver: SandboxDriver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    idx, run_dir = tmp_path / "idx", tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-c", DYING_RUNNER, str(driver.state_dir), str(run_dir), str(idx)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "applied" in proc.stdout
    # the faults outlived their runner
    assert http_through(link_port(driver, "gateway", "api-canary")) == "hangs"
    api_b = manage.component_pid(driver.state_dir, "api-b")
    assert api_b is not None and proc_state(api_b) == "T"
    assert not driver.health().ok

    t0 = time.monotonic()
    report = recover(index_dir=idx)
    elapsed = time.monotonic() - t0
    item = report.items[0]
    assert report.ok and item.outcome == "recovered", item
    assert len(item.reverted) == 3
    assert proc_state(api_b) != "T"
    assert http_through(link_port(driver, "gateway", "api-canary")) == "ok"
    wait_healthy(driver)
    assert read_journal(run_dir / "journal.jsonl").pending() == []
    print(f"recover took {elapsed:.2f}s")

    assert recover(index_dir=idx).nothing_to_recover
    assert cmd_recover(run_dir / "journal.jsonl", False, index_dir=idx) == 0
    assert "nothing to recover" in capsys.readouterr().out
