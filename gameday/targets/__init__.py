"""Target drivers: a factory from the scenario's target model, and from a journaled spec.

Two pseudo-drivers revert plans that belong to no target: ``command`` (a CommandFault's
``undo`` argv) and ``traffic`` (a load surge is done by the engine's traffic runner; its
plan reverts nothing on the target, the runner's Locust processes are journaled and
stopped separately).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from typing import Any

from ..runners.budget import TargetTimings
from ..scenarios.model import (
    AnyFault,
    CommandFault,
    DockerTarget,
    KubernetesTarget,
    LoadSurgeFault,
    SandboxTarget,
)
from .base import FaultPlan, Health, Target, TargetError, UnsupportedFault

__all__ = [
    "CommandTarget",
    "FaultPlan",
    "Health",
    "Target",
    "TargetError",
    "TrafficTarget",
    "UnsupportedFault",
    "make_target",
    "plan_local_fault",
    "target_from_spec",
]


def make_target(model: SandboxTarget | DockerTarget | KubernetesTarget) -> Target:
    """The driver for a scenario's ``target:`` section (not started: call ensure_running)."""
    if isinstance(model, SandboxTarget):
        from .sandbox import SandboxDriver

        return SandboxDriver(model.state_dir, model.settings)
    if isinstance(model, DockerTarget):
        from .docker import DockerDriver

        return DockerDriver.from_model(model)
    from .kubernetes import KubernetesDriver

    return KubernetesDriver.from_model(model)


def target_from_spec(driver: str, spec: Mapping[str, Any]) -> Target:
    """Rebuild a driver from a journaled ``spec`` (never starts anything)."""
    if driver == "sandbox":
        from .sandbox import SandboxDriver

        return SandboxDriver(spec.get("state_dir"))
    if driver == "command":
        return CommandTarget()
    if driver == "traffic":
        return TrafficTarget()
    if driver == "docker":
        from .docker import DockerDriver

        return DockerDriver.from_spec(spec)
    if driver == "kubernetes":
        from .kubernetes import KubernetesDriver

        return KubernetesDriver.from_spec(spec)
    raise TargetError(f"unknown target driver {driver!r}")


def plan_local_fault(fault: CommandFault | LoadSurgeFault) -> FaultPlan:
    """Plans of faults no target driver performs (command, load-surge)."""
    if isinstance(fault, CommandFault):
        return CommandTarget().plan(fault)
    return TrafficTarget().plan(fault)


class _Local:
    """Shared no-op parts of the pseudo-drivers."""

    name = "local"

    def spec(self) -> dict[str, Any]:
        """Nothing to rebuild."""
        return {}

    def preflight(self, services: set[str]) -> list[str]:
        """Nothing to check."""
        return []

    def variables(self) -> dict[str, str]:
        """No variables."""
        return {}

    def secrets(self) -> list[str]:
        """No secrets."""
        return []

    def timings(self) -> TargetTimings:
        """No floors."""
        return TargetTimings()

    def health(self) -> Health:
        """Always healthy: there is nothing behind it."""
        return Health(True, "no target")

    def set_alert_receiver(self, url: str | None) -> None:
        """No alerting."""

    def close(self) -> None:
        """Nothing to release."""


class CommandTarget(_Local):
    """Runs a CommandFault's ``run`` argv, and its ``undo`` argv to revert (no shell)."""

    name = "command"

    def plan(self, fault: AnyFault) -> FaultPlan:
        """The argvs, the timeout and the working directory (recover may run elsewhere)."""
        if not isinstance(fault, CommandFault):
            raise UnsupportedFault(f"the command driver cannot apply {fault.action!r}")
        undo = {
            "kind": "command",
            "argv": list(fault.undo),
            "timeout_s": fault.timeout,
            "cwd": os.getcwd(),
        }
        detail = {"run": list(fault.run), "timeout_s": fault.timeout, "cwd": os.getcwd()}
        return FaultPlan(fault.label(), fault.action, "command", {}, undo, (fault.run[0],), detail)

    def apply(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Run the command; a non-zero exit or a timeout is a TargetError."""
        return _run(
            list(plan.detail["run"]), float(plan.detail["timeout_s"]), str(plan.detail["cwd"])
        )

    def revert(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Run the undo command (it must itself be idempotent)."""
        return _run(list(plan.undo["argv"]), float(plan.undo["timeout_s"]), str(plan.undo["cwd"]))


class TrafficTarget(_Local):
    """A load surge is the traffic runner's; on the target there is nothing to undo."""

    name = "traffic"

    def plan(self, fault: AnyFault) -> FaultPlan:
        """A plan that only journals the surge."""
        if not isinstance(fault, LoadSurgeFault):
            raise UnsupportedFault(f"the traffic driver cannot apply {fault.action!r}")
        detail = {"multiply": fault.multiply, "ramp_s": fault.ramp, "hold_s": fault.hold}
        return FaultPlan(
            fault.label(), fault.action, "traffic", {}, {"kind": "none"}, ("traffic",), detail
        )

    def apply(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Nothing: the engine's traffic runner performs the surge."""
        return {"performed_by": "traffic runner"}

    def revert(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Nothing on the target; `gameday recover` stops journaled Locust processes itself."""
        return {"noop": True}


def _run(argv: list[str], timeout_s: float, cwd: str) -> dict[str, Any]:
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            timeout=timeout_s,
            cwd=cwd if os.path.isdir(cwd) else None,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        raise TargetError(f"command not found: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise TargetError(f"{argv[0]} timed out after {timeout_s:g}s") from None
    out = proc.stdout.decode(errors="replace")[-2000:]
    err = proc.stderr.decode(errors="replace")[-2000:]
    if proc.returncode != 0:
        raise TargetError(
            f"{' '.join(argv)} exited {proc.returncode}: {err.strip() or out.strip()}"
        )
    return {"argv": argv, "exit": proc.returncode, "stdout": out}
