"""The local driver: faults the drill performs itself, whatever the target.

``command`` runs the scenario's argv (and its ``undo`` argv to revert; no shell).
``load-surge`` is done by the drill's own traffic runner; on the target there is nothing to
undo, and `gameday recover` stops journaled Locust processes itself.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from typing import Any, Protocol

from ..scenarios.model import CommandFault, LoadSurgeFault
from .base import FaultAction, FaultPlan, Target, TargetError

DRIVER = "local"


class SurgeRunner(Protocol):
    """What a load surge needs of the traffic runner."""

    def surge(self, multiply: float, ramp_s: float, hold_s: float) -> Any: ...

    def set_users(self, users: int, spawn_rate: float) -> None: ...

    def running(self) -> bool: ...


class LocalDriver(Target):
    """Performs command and load-surge faults; rebuilt without traffic by `recover`."""

    name = DRIVER

    def __init__(
        self, traffic: SurgeRunner | None = None, users: int = 0, spawn_rate: float = 10.0
    ) -> None:
        self.traffic = traffic
        self.users = users  # the baseline a surge returns to
        self.spawn_rate = spawn_rate


class CommandAction(FaultAction[LocalDriver]):
    """Run the command; revert runs its undo (which must itself be idempotent)."""

    def plan(self, driver: LocalDriver, fault: CommandFault) -> FaultPlan:
        """The argvs, the timeout and the working directory (recover may run elsewhere)."""
        undo = {
            "kind": "command",
            "argv": list(fault.undo),
            "timeout_s": fault.timeout,
            "cwd": os.getcwd(),
        }
        detail = {"run": list(fault.run), "timeout_s": fault.timeout, "cwd": os.getcwd()}
        return FaultPlan(fault.label(), fault.action, DRIVER, {}, undo, (fault.run[0],), detail)

    def apply(self, driver: LocalDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Run the command; a non-zero exit or a timeout is a TargetError."""
        detail = plan.detail
        return run_argv(list(detail["run"]), float(detail["timeout_s"]), str(detail["cwd"]))

    def revert(self, driver: LocalDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Run the undo argv."""
        undo = plan.undo
        return run_argv(list(undo["argv"]), float(undo["timeout_s"]), str(undo["cwd"]))


class LoadSurgeAction(FaultAction[LocalDriver]):
    """Tell the traffic runner to ramp up, hold and come back; revert restores the users."""

    def plan(self, driver: LocalDriver, fault: LoadSurgeFault) -> FaultPlan:
        """Journal the surge and the user count to return to."""
        detail = {"multiply": fault.multiply, "ramp_s": fault.ramp, "hold_s": fault.hold}
        undo = {"kind": "users", "users": driver.users}
        return FaultPlan(fault.label(), fault.action, DRIVER, {}, undo, ("traffic",), detail)

    def apply(self, driver: LocalDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Schedule the whole surge at once: its shape runs on time whatever the engine does."""
        if driver.traffic is None:
            raise TargetError("a load surge needs the scenario's traffic: section")
        d = plan.detail
        driver.traffic.surge(float(d["multiply"]), float(d["ramp_s"]), float(d["hold_s"]))
        return {"multiply": d["multiply"]}

    def revert(self, driver: LocalDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Back to the baseline users, if the traffic still runs."""
        if driver.traffic is None or not driver.traffic.running():
            return {"noop": True}
        driver.traffic.set_users(int(plan.undo.get("users", 0)), driver.spawn_rate)
        return {"users": int(plan.undo.get("users", 0))}


LocalDriver.actions = {"command": CommandAction(), "load-surge": LoadSurgeAction()}


def run_argv(argv: list[str], timeout_s: float, cwd: str) -> dict[str, Any]:
    """Run ``argv`` without a shell; a non-zero exit or a timeout is a TargetError."""
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
