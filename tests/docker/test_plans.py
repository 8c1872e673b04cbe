"""The Docker driver without an engine: action dispatch, plan shapes, reverting old journals.

A fake SDK client stands in for the engine; nothing here needs Docker.
"""

from __future__ import annotations

from typing import Any

import pytest

from gameday.scenarios.model import CrashFault, PauseFault, StopFault
from gameday.targets.base import FaultPlan, UnsupportedFault
from gameday.targets.docker import DockerDriver

SPEC = {"project": "p", "labels": {}, "url": "", "staging": True, "docker_host": None}
REF = {"id": "c1", "name": "p-api-a-1"}


class FakeApi:
    """The few low-level SDK calls the container faults make, on one container."""

    def __init__(self, running: bool = True, paused: bool = False) -> None:
        self.state = {"Running": running, "Paused": paused, "Pid": 0, "Status": "running"}
        self.calls: list[str] = []

    def containers(self, all: bool, filters: dict[str, Any]) -> list[dict[str, str]]:
        return [{"Id": REF["id"]}]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        return {
            "Id": cid,
            "Name": f"/{REF['name']}",
            "State": dict(self.state),
            "Config": {"Labels": {"com.docker.compose.service": "api-a"}, "Env": []},
            "NetworkSettings": {"Networks": {}},
            "HostConfig": {},
        }

    def start(self, cid: str) -> None:
        self.calls.append("start")
        self.state["Running"] = True

    def unpause(self, cid: str) -> None:
        self.calls.append("unpause")
        self.state["Paused"] = False


class FakeClient:
    def __init__(self, api: FakeApi) -> None:
        self.api = api


def driver_with(api: FakeApi) -> DockerDriver:
    driver = DockerDriver.from_spec(SPEC)
    driver._client = FakeClient(api)
    return driver


def journaled(action: str, undo: dict[str, Any]) -> FaultPlan:
    """A plan as the driver before the refactor wrote it to the journal."""
    return FaultPlan.from_json(
        {
            "fault": f"{action}-api-a",
            "action": action,
            "driver": "docker",
            "spec": SPEC,
            "undo": undo,
            "touches": [REF["name"]],
            "detail": {},
        }
    )


def test_plans_keep_their_shape() -> None:
    driver = driver_with(FakeApi())
    crash = driver.plan(CrashFault(action="crash", service="api-a", restart=False))
    assert crash.driver == "docker" and crash.spec == SPEC
    assert dict(crash.undo) == {"kind": "start", "containers": [REF], "restart": False}
    assert crash.touches == (REF["name"],)
    stop = driver.plan(StopFault(action="stop", service="api-a"))
    assert dict(stop.undo) == {"kind": "start", "containers": [REF]}
    pause = driver.plan(PauseFault(action="pause", service="api-a"))
    assert dict(pause.undo) == {"kind": "unpause", "containers": [REF]}


def test_old_journals_revert() -> None:
    api = FakeApi(running=False, paused=False)
    driver = driver_with(api)
    assert driver.revert(journaled("crash", {"kind": "start", "containers": [REF]})) == {
        REF["name"]: "started"
    }
    assert driver.revert(
        journaled("crash", {"kind": "start", "containers": [REF], "restart": False})
    ) == {"left_down": (REF["name"],)}
    api.state["Paused"] = True
    assert driver.revert(journaled("pause", {"kind": "unpause", "containers": [REF]})) == {
        REF["name"]: "unpaused"
    }
    assert api.calls == ["start", "unpause"]
    # a stopped container's namespace and rules are gone: nothing to undo, no nsenter run
    api.state["Running"] = False
    partition = {"kind": "iptables", "chain": "GAMEDAY-X", "iptables": "iptables"}
    netem = {"kind": "netem", "tc": "tc"}
    assert driver.revert(journaled("partition", {**partition, "containers": [REF]})) == {
        REF["name"]: "not running"
    }
    assert driver.revert(journaled("latency", {**netem, "containers": [REF]})) == {
        REF["name"]: "not running"
    }


def test_unsupported_actions_say_why() -> None:
    driver = DockerDriver.from_spec(SPEC)
    with pytest.raises(UnsupportedFault, match="release controller API"):
        driver.action("gray-release")
    with pytest.raises(UnsupportedFault, match="it performs: crash, latency, network-cut"):
        driver.action("load-surge")
