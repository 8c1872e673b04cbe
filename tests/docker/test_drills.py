"""Library drills pass on the Docker staging with only ``target:`` changed."""

from __future__ import annotations

import pytest

from gameday.sandbox.container.stack import Stack
from gameday.targets.docker import DockerDriver
from tests.docker.conftest import Cli, library_on_docker
from tests.docker.test_faults import wait_healthy

pytestmark = pytest.mark.docker


# rate-limit-surge is left to the sandbox e2e run: its load surge is Locust's, no driver applies it
@pytest.mark.parametrize("name", ["db-primary-crash", "site-outage"])
def test_library_drill_passes_on_docker(cli: Cli, stack: Stack, name: str) -> None:
    driver = DockerDriver(stack.project, url=stack.url, staging=True)
    wait_healthy(driver, stack, timeout=90)
    result = cli.drill(cli.write(library_on_docker(name, stack)))
    report = cli.report()
    failed = [o for o in report["objectives"] if not o["passed"]]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert report["verdict"] == "passed" and not failed
    assert "Traceback" not in result.stdout + result.stderr
    # every fault was reverted by the drill itself
    wait_healthy(driver, stack, timeout=90)
    driver.close()
