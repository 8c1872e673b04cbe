"""SIGKILL the runner while faults are in force; `gameday recover` undoes all of them."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from gameday.sandbox.container.stack import Stack
from gameday.targets.docker import DockerDriver
from tests.docker.conftest import Cli, docker_target
from tests.docker.test_faults import tcp_from, wait_healthy

pytestmark = pytest.mark.docker


def held_faults(stack: Stack) -> dict[str, Any]:
    return {
        "apiVersion": "gameday/v1",
        "kind": "Scenario",
        "name": "docker-sigkill",
        "target": docker_target(stack),
        "objectives": {"recovery_time": "5m"},
        "steady_state": {
            "stable_for": "1s",
            "probes": [{"name": "health", "type": "http", "url": "{{ target.url }}/health"}],
        },
        "faults": [
            {"action": "network-cut", "service": "site-a", "at": "0s"},
            {"action": "pause", "service": "api-b", "at": "0s"},
            {"action": "partition", "between": [["gateway"], ["release", "alerting"]], "at": "0s"},
        ],
        "guardrails": {"max_duration": "5m"},
    }


def test_sigkill_during_network_cut_then_recover(cli: Cli, stack: Stack) -> None:
    driver = DockerDriver(stack.project, url=stack.url, staging=True)
    proc = cli.start(cli.write(held_faults(stack)))
    try:
        cli.wait_for_applied(3)
        assert "disconnected" in driver.health().summary and "paused" in driver.health().summary
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the runner died: nothing was reverted
    gateway = driver.resolve("gateway")[0]["id"]
    assert driver.chains(gateway)
    recover = cli.run("recover", "--journal", str(cli.journal()))
    assert recover.returncode == 0, recover.stdout + recover.stderr
    health = driver.health()
    assert "paused" not in health.summary and "disconnected" not in health.summary, health
    everyone = [r["id"] for refs in driver.known_services().values() for r in refs]
    assert all(not driver.chains(c) for c in everyone)
    assert tcp_from(f"{stack.project}-gateway-1", "release", 8091)
    again = cli.run("recover", "--journal", str(cli.journal()))
    assert again.returncode == 0 and "nothing to recover" in again.stdout.lower()
    wait_healthy(driver, stack, timeout=90)
    driver.close()
