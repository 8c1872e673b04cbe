"""Each fault against the Docker staging, applied and reverted through the SDK."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import httpx
import psycopg
import pytest

from gameday.sandbox.container.stack import Stack
from gameday.scenarios.model import (
    CrashFault,
    LatencyFault,
    NetworkCutFault,
    PartitionFault,
    PauseFault,
    StopFault,
)
from gameday.targets.base import FaultPlan, TargetError, UnsupportedFault
from gameday.targets.docker import DockerDriver, netem_available

pytestmark = pytest.mark.docker


@pytest.fixture
def driver(stack: Stack) -> Any:
    d = DockerDriver(stack.project, url=stack.url, staging=True)
    yield d
    d.close()


def tcp_from(container: str, host: str, port: int) -> bool:
    """Can ``container`` open a TCP connection to ``host:port`` (its own network view)?"""
    code = (
        "import socket,sys\n"
        f"try: socket.create_connection(({host!r}, {port}), timeout=1.5); print('ok')\n"
        "except OSError as e: print('fail', e)\n"
    )
    out = subprocess.run(
        ["docker", "exec", container, "/usr/local/bin/python3", "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    return out.startswith("ok")


def wait_healthy(driver: DockerDriver, stack: Stack, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.health().ok and streaming(stack):
            return
        time.sleep(0.3)
    raise AssertionError(f"not healthy again: {driver.health().summary}")


def streaming(stack: Stack) -> bool:
    for db in ("db-primary", "db-standby"):
        try:
            with psycopg.connect(stack.dsn(db), autocommit=True) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                ).fetchone()
            if row and row[0]:
                return True
        except psycopg.Error:
            continue
    return False


def test_resolves_services_and_groups(driver: DockerDriver) -> None:
    known = driver.known_services()
    assert len(known["db-primary"]) == 1
    assert {r["name"].split("-", 3)[-1] for r in known["site-a"]} >= {"db-primary-1"}
    assert driver.preflight({"db-primary", "site-b", "api"}) == []
    problems = driver.preflight({"db-primry"})
    assert problems and "db-primry" in problems[0] and "did you mean 'db-primary'" in problems[0]
    with pytest.raises(TargetError, match="matches no container"):
        driver.plan(CrashFault(action="crash", service="nope"))


def test_not_staging_is_refused(stack: Stack) -> None:
    problems = DockerDriver(stack.project, url=stack.url).preflight({"gateway"})
    assert any("staging: true" in p for p in problems)


def test_pause_and_stop_revert_idempotently(driver: DockerDriver, stack: Stack) -> None:
    plan = driver.plan(PauseFault(action="pause", service="release"))
    driver.apply(plan)
    assert "paused" in driver.health().summary
    # the plan alone, in a "new process", reverts it; twice is harmless
    again = FaultPlan.from_json(json.loads(json.dumps(plan.to_json())))
    DockerDriver.from_spec(again.spec).revert(again)
    driver.revert(again)
    stop = driver.plan(StopFault(action="stop", service="release"))
    driver.apply(stop)
    assert not driver.health().ok
    driver.revert(stop)
    driver.revert(stop)
    wait_healthy(driver, stack)


def test_crash_kills_and_restart_rejoins(driver: DockerDriver, stack: Stack) -> None:
    plan = driver.plan(CrashFault(action="crash", service="api-canary"))
    result = driver.apply(plan)
    assert list(result.values()) == ["killed"]
    assert "exited" in driver.health().summary
    assert driver.revert(plan)
    assert driver.revert(plan)  # already running: harmless
    wait_healthy(driver, stack)


def test_partition_blocks_and_restores(driver: DockerDriver, stack: Stack) -> None:
    a, b = f"{stack.project}-api-a-1", f"{stack.project}-api-b-1"
    assert tcp_from(a, "api-b", 8082) and tcp_from(b, "api-a", 8081)
    plan = driver.plan(PartitionFault(action="partition", between=[["api-a"], ["api-b"]]))
    driver.apply(plan)
    chain = str(plan.undo["chain"])
    try:
        assert not tcp_from(a, "api-b", 8082)
        assert not tcp_from(b, "api-a", 8081)
        # only the two groups are cut: both still reach the gateway's network peers
        assert tcp_from(a, "release", 8091) and tcp_from(b, "release", 8091)
        ids = [r["id"] for r in plan.undo["containers"]]
        assert all(chain in driver.chains(c) for c in ids)
    finally:
        reverted = driver.revert(plan)
    assert set(reverted.values()) == {"removed"}
    assert driver.revert(plan)  # idempotent
    assert all(not driver.chains(r["id"]) for r in plan.undo["containers"])
    assert tcp_from(a, "api-b", 8082) and tcp_from(b, "api-a", 8081)


def test_network_cut_disconnects_and_reconnects_with_same_addresses(
    driver: DockerDriver, stack: Stack
) -> None:
    plan = driver.plan(NetworkCutFault(action="network-cut", service="api-b"))
    before = plan.undo["networks"]
    driver.apply(plan)
    assert "disconnected" in driver.health().summary
    assert not tcp_from(f"{stack.project}-api-a-1", "api-b", 8082)
    driver.revert(plan)
    driver.revert(plan)
    after = driver.plan(NetworkCutFault(action="network-cut", service="api-b")).undo["networks"]
    for cid, nets in before.items():
        assert {n: (e["ipv4"], sorted(e["aliases"])) for n, e in nets.items()} == {
            n: (e["ipv4"], sorted(e["aliases"])) for n, e in after[cid].items()
        }
    assert tcp_from(f"{stack.project}-api-a-1", "api-b", 8082)
    wait_healthy(driver, stack)
    r = httpx.post(f"{stack.url}/pay", json={"account": "t", "amount": 1}, timeout=5)
    assert r.status_code == 200


def test_latency_where_netem_is_missing(driver: DockerDriver) -> None:
    fault = LatencyFault(action="latency", service="api-a", delay="100ms")
    if netem_available():
        plan = driver.plan(fault)
        driver.apply(plan)
        driver.revert(plan)
        driver.revert(plan)
    else:
        with pytest.raises(UnsupportedFault, match="not supported on this host"):
            driver.plan(fault)
