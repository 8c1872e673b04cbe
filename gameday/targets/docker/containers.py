"""Container faults through the Docker SDK: crash (SIGKILL), stop, pause, and their reverts.

A crash or a stop is undone by starting the containers again (a crash with
``restart: false`` stays down), a pause by unpausing them. Each waits until the engine
reports the new state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ...scenarios.model import CrashFault, PauseFault, StopFault
from ..base import FaultAction, FaultPlan, TargetError, acting
from .driver import DRIVER, DockerDriver
from .sdk import each, names, refs_of

STOP_TIMEOUT_S = 10
WAIT_S = 15.0


class _ContainerAction(FaultAction[DockerDriver]):
    undo_kind: ClassVar[str] = "start"

    def plan(self, driver: DockerDriver, fault: CrashFault | StopFault | PauseFault) -> FaultPlan:
        """The containers the service stands for; revert starts (or unpauses) them."""
        refs = driver.resolve(fault.service)
        undo: dict[str, Any] = {"kind": self.undo_kind, "containers": refs}
        if isinstance(fault, CrashFault):
            undo["restart"] = fault.restart
        return FaultPlan(fault.label(), fault.action, DRIVER, driver.spec(), undo, names(refs))

    def revert(self, driver: DockerDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Start what is down again (a crash with ``restart: false`` stays down)."""
        refs = refs_of(plan.undo)
        if not plan.undo.get("restart", True):
            return {"left_down": names(refs)}
        return each(refs, lambda cid: _start(driver, cid))


class CrashAction(_ContainerAction):
    """SIGKILL the containers and wait until they are stopped."""

    def apply(self, driver: DockerDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Kill and confirm."""
        return each(refs_of(plan.undo), lambda cid: _kill(driver, cid))


class StopAction(_ContainerAction):
    """Stop the containers gracefully (``docker stop``, SIGKILL after its timeout)."""

    def apply(self, driver: DockerDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Stop them."""
        return each(refs_of(plan.undo), lambda cid: _stop(driver, cid))


class PauseAction(_ContainerAction):
    """Freeze the containers (``docker pause``); revert unpauses them."""

    undo_kind = "unpause"

    def apply(self, driver: DockerDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Pause and confirm."""
        return each(refs_of(plan.undo), lambda cid: _pause(driver, cid))

    def revert(self, driver: DockerDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Unpause what is still paused."""
        return each(refs_of(plan.undo), lambda cid: _unpause(driver, cid))


def _wait_state(
    driver: DockerDriver, cid: str, check: Callable[[Mapping[str, Any]], Any], what: str
) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        info = driver.inspect(cid)
        if info is None or check(info["State"]):
            return
        time.sleep(0.05)
    raise TargetError(f"container {cid[:12]} did not become {what}")


def _kill(driver: DockerDriver, cid: str) -> str:
    info = driver.inspect(cid)
    if info is None or not info["State"].get("Running"):
        return "not running"
    with acting():
        driver.client.api.kill(cid, signal="SIGKILL")
    _wait_state(driver, cid, lambda s: not s.get("Running"), "stopped after SIGKILL")
    return "killed"


def _stop(driver: DockerDriver, cid: str) -> str:
    with acting():
        driver.client.api.stop(cid, timeout=STOP_TIMEOUT_S)
    return "stopped"


def _pause(driver: DockerDriver, cid: str) -> str:
    info = driver.inspect(cid)
    if info is None or info["State"].get("Paused"):
        return "already paused"
    with acting():
        driver.client.api.pause(cid)
    _wait_state(driver, cid, lambda s: s.get("Paused"), "paused")
    return "paused"


def _start(driver: DockerDriver, cid: str) -> str:
    info = driver.inspect(cid)
    if info is None:
        return "gone"
    if info["State"].get("Paused"):
        driver.client.api.unpause(cid)
    if info["State"].get("Running"):
        return "running"
    driver.client.api.start(cid)
    _wait_state(driver, cid, lambda s: s.get("Running"), "running")
    return "started"


def _unpause(driver: DockerDriver, cid: str) -> str:
    info = driver.inspect(cid)
    if info is None or not info["State"].get("Paused"):
        return "not paused"
    driver.client.api.unpause(cid)
    _wait_state(driver, cid, lambda s: not s.get("Paused"), "unpaused")
    return "unpaused"
