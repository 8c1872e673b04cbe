"""`stop` is a SIGTERM the services honour: never Docker's grace period, then SIGKILL.

A stop that takes the grace period (10 s) is silently a kill. Two ways it did: a SIGTERM
while the container was starting (python as PID 1 ignored it until the component set its
handler: any stop right after a revert), and a peer down (the interpreter's exit waited for
the forwarders' DNS lookups of that peer, which Docker's DNS answers only after ~10 s).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from gameday.sandbox.container.stack import Stack
from gameday.scenarios.model import StopFault
from gameday.targets.base import FaultPlan
from gameday.targets.docker import DockerDriver
from tests.docker.test_faults import tcp_from, wait_healthy

pytestmark = pytest.mark.docker

# well under the grace period (STOP_TIMEOUT_S, 10 s), with room for a loaded machine
PROMPT_S = 5.0
# one of each kind of HTTP component, and a database
SERVICES = ["api-b", "gateway", "failover", "release", "alerting", "db-standby"]
SIGKILLED = 128 + 9


@pytest.fixture
def driver(stack: Stack) -> Iterator[DockerDriver]:
    d = DockerDriver(stack.project, url=stack.url, staging=True)
    yield d
    d.close()


def stop_timed(driver: DockerDriver, plan: FaultPlan) -> tuple[float, int]:
    """Seconds the stop took to apply, and the exit code of the stopped container."""
    t0 = time.monotonic()
    driver.apply(plan)
    took = time.monotonic() - t0
    (ref,) = plan.undo["containers"]
    info: Any = driver.client.api.inspect_container(ref["id"])
    assert not info["State"]["Running"]
    return took, int(info["State"]["ExitCode"])


@pytest.mark.parametrize("service", SERVICES)
def test_stop_is_prompt_and_reverts_healthy(
    driver: DockerDriver, stack: Stack, service: str
) -> None:
    plan = driver.plan(StopFault(action="stop", service=service))
    # running for a while, then again right after the revert started it (still starting up)
    for when in ("running", "starting"):
        try:
            took, code = stop_timed(driver, plan)
        finally:
            driver.revert(plan)
        assert code != SIGKILLED, f"{service} ({when}) ignored SIGTERM: SIGKILLed after {took:.1f}s"
        assert took < PROMPT_S, f"stop {service} ({when}) took {took:.1f}s"
    wait_healthy(driver, stack)


def test_stop_is_prompt_while_a_peer_is_down(driver: DockerDriver, stack: Stack) -> None:
    peer = driver.plan(StopFault(action="stop", service="api-b"))
    gateway = driver.plan(StopFault(action="stop", service="gateway"))
    try:
        driver.apply(peer)
        # the gateway's forwarder looks the stopped peer up (its probes do too, every 0.3 s)
        tcp_from(f"{stack.project}-gateway-1", "127.0.0.1", 8082)
        took, code = stop_timed(driver, gateway)
    finally:
        # the peer first: after test_faults' network cut it has pinned addresses, which the
        # gateway, started while they are free, could take
        driver.revert(peer)
        driver.revert(gateway)
    assert code != SIGKILLED, f"gateway SIGKILLed after {took:.1f}s"
    assert took < PROMPT_S, f"stop gateway with api-b down took {took:.1f}s"
    wait_healthy(driver, stack)
