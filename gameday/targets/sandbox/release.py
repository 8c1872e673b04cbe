"""Gray release on the sandbox: its release controller steps the canary through the weights.

Revert aborts a running rollout, takes the canary's weight to zero and, when the release
already reached 100%, puts every API instance back on the previous stable version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...sandbox.client import AdminError
from ...scenarios.model import GrayReleaseFault
from ..base import FaultAction, FaultPlan, TargetError, UnsupportedFault
from .driver import API_ALIASES, DRIVER, SandboxDriver


class GrayReleaseAction(FaultAction[SandboxDriver]):
    """Start a rollout of ``version`` with the scenario's steps and interval."""

    def plan(self, driver: SandboxDriver, fault: GrayReleaseFault) -> FaultPlan:
        """The steps in whole percent, and the stable version to return to."""
        if fault.service not in (*API_ALIASES, "api-canary"):
            raise TargetError(
                f"the sandbox rolls out releases of the payment API only (service 'api'), "
                f"not {fault.service!r}"
            )
        steps = [round(x * 100) for x in fault.steps]
        if any(s < 1 for s in steps) or len(set(steps)) != len(steps):
            raise UnsupportedFault("the release controller takes whole percentages, 1% or more")
        stable = str(driver.admin(lambda c: c.rollout_status()).get("stable_version", "v1"))
        undo = {"kind": "rollout", "version": fault.version, "prev_stable": stable}
        detail = {"steps": steps, "interval_s": fault.interval}
        touches = (f"api-canary@{fault.version}",)
        return FaultPlan(fault.label(), fault.action, DRIVER, driver.spec(), undo, touches, detail)

    def apply(self, driver: SandboxDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Start the rollout."""
        steps = [int(s) for s in plan.detail.get("steps", [])] or None
        interval = plan.detail.get("interval_s")
        version = str(plan.undo["version"])
        result = driver.admin(lambda c: c.start_rollout(version, steps, interval))
        return {"rollout": result.get("status"), "version": version, "steps": steps}

    def revert(self, driver: SandboxDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Abort, zero the canary's weight, restore versions if the release completed."""
        if driver.state_or_none() is None:
            return {"skipped": f"no sandbox in {driver.state_dir}"}
        return revert_rollout(driver, plan.undo)


def revert_rollout(driver: SandboxDriver, undo: Mapping[str, Any]) -> dict[str, Any]:
    version, prev = str(undo["version"]), str(undo.get("prev_stable") or "v1")
    result: dict[str, Any] = {"version": version}
    try:
        driver.client.abort_rollout()
        result["aborted"] = True
    except AdminError as exc:
        if "409" not in str(exc):  # 409: no rollout running — already over
            raise TargetError(str(exc)) from exc
        result["aborted"] = False
    driver.admin(lambda c: c.set_canary_weight(0.0))
    status = driver.admin(lambda c: c.rollout_status())
    rollout = status.get("rollout", {})
    result["status"] = rollout.get("status")
    completed = rollout.get("status") == "completed" and rollout.get("version") == version
    # the release went to 100%: every API instance goes back; else the canary alone (an abort
    # right after the start left it on the new version, unserved but not as the drill found it)
    apis = ("api-a", "api-b", "api-canary") if completed else ("api-canary",)
    if version != prev:
        for api in apis:
            driver.admin(lambda c, a=api: c.set_api_version(a, prev))
        result["versions_restored"] = prev
    return result
