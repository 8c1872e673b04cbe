"""Docker fixtures: one locally built image and one staging for the whole session.

Without a Docker engine the tests skip (with the reason); under CI (``CI`` or
``GAMEDAY_REQUIRE_DOCKER`` set) a missing engine is an error instead, so they never
silently skip there. Everything created is labelled ``gameday.dev/run=<session id>`` and
removed at the end; the last fixture asserts nothing labelled is left.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday.sandbox.container.stack import RUN_LABEL, Stack, create_stack, remove_stack
from tests.conftest import LIBRARY

RUN_ID = f"pytest-{secrets.token_hex(4)}"
IMAGE = f"gameday-staging:{RUN_ID}"
SHIM = [sys.executable, "-m", "gameday.cli"]
ROOT = Path(__file__).resolve().parents[2]


def _engine() -> Any:
    try:
        import docker

        client = docker.from_env()
        client.ping()
        return client
    except Exception as exc:
        reason = (
            f"no Docker engine reachable ({type(exc).__name__}: {exc}); run .ci/docker-setup.sh"
        )
        if os.environ.get("CI") or os.environ.get("GAMEDAY_REQUIRE_DOCKER"):
            pytest.fail(f"Docker tests must run in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    client = _engine()
    yield client
    remove_stack(client, RUN_ID)
    for image in client.images.list(filters={"label": f"{RUN_LABEL}={RUN_ID}"}):
        client.images.remove(image.id, force=True)
    flt = {"label": f"{RUN_LABEL}={RUN_ID}"}
    left = (
        [c.name for c in client.containers.list(all=True, filters=flt)]
        + [n.name for n in client.networks.list(filters=flt)]
        + [v.name for v in client.volumes.list(filters=flt)]
        + [i.id for i in client.images.list(filters=flt)]
    )
    client.close()
    assert not left, f"left behind: {left}"


@pytest.fixture(scope="session")
def image(docker_client: Any) -> str:
    from gameday.sandbox.container.image import build_image

    build_image(docker_client, IMAGE, {RUN_LABEL: RUN_ID})
    return IMAGE


@pytest.fixture(scope="session")
def stack(docker_client: Any, image: str) -> Iterator[Stack]:
    project = f"gd-{RUN_ID}"
    made = create_stack(docker_client, image, project, RUN_ID)
    yield made
    remove_stack(docker_client, RUN_ID)


def docker_target(stack: Stack) -> dict[str, Any]:
    """The only thing a library scenario changes to run on the Docker staging."""
    return {"type": "docker", "project": stack.project, "url": stack.url, "staging": True}


def library_on_docker(name: str, stack: Stack) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((LIBRARY / f"{name}.yaml").read_text(encoding="utf-8"))
    data["target"] = docker_target(stack)
    return data


class Cli:
    """Runs the real CLI (docker target wired) in a temporary directory."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.reports = tmp, tmp / "reports"

    def write(self, data: dict[str, Any]) -> Path:
        path = self.tmp / f"{data['name']}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*SHIM, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.tmp,
            env=self.env(),
        )

    def drill(self, scenario: Path) -> subprocess.CompletedProcess[str]:
        return self.run("run", str(scenario), "--ci", "--report-dir", str(self.reports))

    def start(self, scenario: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*SHIM, "run", str(scenario), "--ci", "--report-dir", str(self.reports)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.tmp,
            env=self.env(),
        )

    def report(self) -> dict[str, Any]:
        found = sorted(self.reports.glob("*/report.json"), key=lambda p: p.stat().st_mtime)
        assert found, f"no report under {self.reports}"
        data: dict[str, Any] = json.loads(found[-1].read_text(encoding="utf-8"))
        return data

    def journal(self) -> Path:
        found = sorted(self.reports.glob("*/journal.jsonl"), key=lambda p: p.stat().st_mtime)
        assert found
        return found[-1]

    def wait_for_applied(self, count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for journal in self.reports.glob("*/journal.jsonl"):
                kinds = [json.loads(x).get("kind") for x in journal.read_text().splitlines() if x]
                if kinds.count("fault.applied") >= count:
                    return
            time.sleep(0.2)
        raise AssertionError(f"fewer than {count} faults applied within {timeout}s")


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)
