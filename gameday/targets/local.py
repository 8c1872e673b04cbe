"""The local driver: faults the drill performs itself, whatever the target.

``command`` runs the scenario's argv (and its ``undo`` argv to revert; no shell). Its
variables and secret references are filled in when it runs; the plan (the journal) keeps the
references, so a secret is read again by `gameday recover` and never written down, and what
the command prints is redacted.
``load-surge`` is done by the drill's own traffic runner; on the target there is nothing to
undo, and `gameday recover` stops journaled Locust processes itself.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..scenarios.model import CommandFault, LoadSurgeFault
from ..scenarios.references import Resolver, SecretError
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
        self,
        traffic: SurgeRunner | None = None,
        users: int = 0,
        spawn_rate: float = 10.0,
        resolver: Resolver | None = None,
    ) -> None:
        self.traffic = traffic
        self.users = users  # the baseline a surge returns to
        self.spawn_rate = spawn_rate
        # the drill's resolver (its variables, and the secrets every output is redacted of);
        # recover has none: the journaled templates hold only absolute secret references
        self.resolver = resolver if resolver is not None else Resolver(variables={})

    def template(self, arg: str) -> str:
        """One argument as journaled: variables filled in, secret references kept (made absolute)."""
        try:
            expanded = self.resolver.expand(arg)
        except SecretError:
            return self.resolver.anchored(arg)  # reported when it runs
        if any(secret in expanded for secret in self.resolver.secrets):
            # a variable holding one of the target's secrets (a DSN with its password):
            # journal the variable, filled in only when the command runs
            return self.resolver.anchored(arg)
        return self.resolver.anchored(expanded)

    def run_command(self, argv: list[str], timeout_s: float, cwd: str) -> dict[str, Any]:
        """Run a journaled argv template: secrets read now, redacted from all it reports."""
        try:
            resolved = [self.resolver.render(arg) for arg in argv]
        except SecretError as exc:
            raise TargetError(f"cannot run {argv[0]}: {exc}") from None
        return run_argv(resolved, timeout_s, cwd, shown=argv, redact=self.resolver.redact)


class CommandAction(FaultAction[LocalDriver]):
    """Run the command; revert runs its undo (which must itself be idempotent)."""

    def plan(self, driver: LocalDriver, fault: CommandFault) -> FaultPlan:
        """The argv templates, the timeout and the working directory (recover may run elsewhere)."""
        undo = {
            "kind": "command",
            "argv": [driver.template(arg) for arg in fault.undo],
            "timeout_s": fault.timeout,
            "cwd": os.getcwd(),
        }
        run = [driver.template(arg) for arg in fault.run]
        detail = {"run": run, "timeout_s": fault.timeout, "cwd": os.getcwd()}
        return FaultPlan(fault.label(), fault.action, DRIVER, {}, undo, (fault.run[0],), detail)

    def apply(self, driver: LocalDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Run the command; a non-zero exit or a timeout is a TargetError."""
        detail = plan.detail
        return driver.run_command(
            list(detail["run"]), float(detail["timeout_s"]), str(detail["cwd"])
        )

    def revert(self, driver: LocalDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Run the undo argv."""
        undo = plan.undo
        return driver.run_command(list(undo["argv"]), float(undo["timeout_s"]), str(undo["cwd"]))


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


def run_argv(
    argv: list[str],
    timeout_s: float,
    cwd: str,
    *,
    shown: list[str] | None = None,
    redact: Callable[[str], str] = str,
) -> dict[str, Any]:
    """Run ``argv`` without a shell; a non-zero exit or a timeout is a TargetError.

    ``shown`` is the argv as it may be recorded (secret references unresolved); ``redact``
    hides secrets in what the command printed.
    """
    shown = argv if shown is None else shown
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
        raise TargetError(f"command not found: {shown[0]}") from None
    except subprocess.TimeoutExpired:
        raise TargetError(f"{shown[0]} timed out after {timeout_s:g}s") from None
    except OSError as exc:
        raise TargetError(redact(f"cannot run {shown[0]}: {exc.strerror or exc}")) from None
    # redact before cutting, so no part of a secret is left at the edge
    out = redact(proc.stdout.decode(errors="replace"))[-2000:]
    err = redact(proc.stderr.decode(errors="replace"))[-2000:]
    if proc.returncode != 0:
        raise TargetError(
            f"{' '.join(shown)} exited {proc.returncode}: {err.strip() or out.strip()}"
        )
    return {"argv": shown, "exit": proc.returncode, "stdout": out}
