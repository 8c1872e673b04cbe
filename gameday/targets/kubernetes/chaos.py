"""Faults through Chaos Mesh, when the cluster serves its CRDs: latency (NetworkChaos) and
pause (PodChaos, pod-failure).

Apply creates the chaos object and waits until Chaos Mesh reports every container record
injected; revert deletes it and waits until every record is recovered (Chaos Mesh keeps the
object, behind a finalizer, until then).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...scenarios.model import AnyFault, LatencyFault, PauseFault
from ..base import FaultAction, FaultPlan, TargetError, UnsupportedFault
from .api import CHAOS_GROUP, CHAOS_KINDS, CHAOS_VERSION, CustomResource, already_exists_ok
from .labels import RUN_ANNOTATION, object_name, selector_string

if TYPE_CHECKING:
    from .driver import KubernetesDriver


class _ChaosAction(FaultAction["KubernetesDriver"]):
    """Create the planned chaos object; revert deletes it. Both wait for Chaos Mesh's records."""

    def apply(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Create the object (a 409 is a retried apply) and wait until it is injected."""
        obj, plural = plan.detail["object"], str(plan.undo["plural"])
        with already_exists_ok():
            driver.custom("create", chaos_resource(plural), obj)
        name = str(plan.undo["name"])
        ok, found = _wait_chaos(driver, plural, name, injected=True)
        if not ok:
            raise TargetError(
                f"{plan.undo['chaos_kind']} {name} not injected after {driver.wait_s:g}s: "
                f"{_chaos_summary(found)}"
            )
        return {"chaos": f"{plan.undo['chaos_kind']}/{name}", "records": _chaos_summary(found)}

    def revert(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Delete the object and wait until every record is recovered (or the object gone)."""
        plural, name = str(plan.undo["plural"]), str(plan.undo["name"])
        gone = driver.custom("delete", chaos_resource(plural), name, optional=True) is None
        # Chaos Mesh keeps the object (finalizer) until every record is recovered
        ok, obj = _wait_chaos(driver, plural, name, injected=False)
        if not ok:
            raise TargetError(
                f"{plan.undo['chaos_kind']} {name} still injected {driver.wait_s:g}s after delete: "
                f"{_chaos_summary(obj)}"
            )
        return {"deleted": f"{plan.undo['chaos_kind']}/{name}", "already_gone": gone}


class LatencyAction(_ChaosAction):
    """Delay a service's outgoing packets, or only those of one link ``src->dst``."""

    def plan(self, driver: KubernetesDriver, fault: LatencyFault) -> FaultPlan:
        """A NetworkChaos ``delay`` on the service's pods (or from src towards dst)."""
        spec: dict[str, Any] = {
            "action": "delay",
            "mode": "all",
            "direction": "to",
            "delay": {"latency": f"{round(fault.delay * 1000)}ms", "correlation": "0"},
        }
        if fault.jitter:
            spec["delay"]["jitter"] = f"{round(fault.jitter * 1000)}ms"
        if fault.link:
            src, dst = fault.link.split("->")
            spec["selector"] = _chaos_selector(driver, driver.resolve(src))
            # packets from src to dst are delayed once per round trip
            spec["target"] = {
                "mode": "all",
                "selector": _chaos_selector(driver, driver.resolve(dst)),
            }
            touches: tuple[str, ...] = (fault.link,)
        else:
            sel = driver.resolve(str(fault.service))
            spec["selector"] = _chaos_selector(driver, sel)
            touches = (f"pods {selector_string(sel)}",)
        chaos = _chaos(driver, "NetworkChaos", fault.label(), spec)
        return _chaos_plan(driver, fault, chaos, touches)


class PauseAction(_ChaosAction):
    """Make a service's pods fail (PodChaos ``pod-failure``) until reverted."""

    def plan(self, driver: KubernetesDriver, fault: PauseFault) -> FaultPlan:
        """A PodChaos on every pod of the service."""
        sel = driver.resolve(fault.service)
        chaos = _chaos(
            driver,
            "PodChaos",
            fault.label(),
            {"action": "pod-failure", "mode": "all", "selector": _chaos_selector(driver, sel)},
        )
        return _chaos_plan(driver, fault, chaos, (f"pods {selector_string(sel)}",))


def chaos_resource(plural: str) -> CustomResource:
    """The (group, version, plural) of a Chaos Mesh kind."""
    return CHAOS_GROUP, CHAOS_VERSION, plural


def _chaos_selector(driver: KubernetesDriver, sel: Mapping[str, Any]) -> dict[str, Any]:
    """A LabelSelector as Chaos Mesh selects pods, within the driver's namespace."""
    out: dict[str, Any] = {"namespaces": [driver.namespace]}
    if sel.get("matchLabels"):
        out["labelSelectors"] = dict(sel["matchLabels"])
    if sel.get("matchExpressions"):
        out["expressionSelectors"] = list(sel["matchExpressions"])
    return out


def _chaos(driver: KubernetesDriver, kind: str, label: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{CHAOS_GROUP}/{CHAOS_VERSION}",
        "kind": kind,
        "metadata": {
            "name": object_name("gameday", label, secrets.token_hex(2)),
            "namespace": driver.namespace,
            "labels": driver.labels(label),
            "annotations": {RUN_ANNOTATION: driver.run_id},
        },
        "spec": spec,
    }


def _chaos_plan(
    driver: KubernetesDriver, fault: AnyFault, chaos: dict[str, Any], touches: tuple[str, ...]
) -> FaultPlan:
    kind = str(chaos["kind"])
    if not driver.capabilities().get(kind):
        raise UnsupportedFault(
            f"{fault.action} on Kubernetes needs Chaos Mesh ({kind} in "
            f"{CHAOS_GROUP}/{CHAOS_VERSION}), which this cluster does not serve"
        )
    undo = {
        "kind": "chaos",
        "chaos_kind": kind,
        "plural": CHAOS_KINDS[kind],
        "name": chaos["metadata"]["name"],
    }
    return driver.fault_plan(fault, undo, touches, {"object": chaos})


def _wait_chaos(
    driver: KubernetesDriver, plural: str, name: str, injected: bool
) -> tuple[bool, dict[str, Any] | None]:
    """Poll the chaos object until every container record is (not) injected, or it is gone."""
    deadline = time.monotonic() + driver.wait_s
    obj: dict[str, Any] | None = None
    while True:
        obj = driver.custom("get", chaos_resource(plural), name, optional=True)
        if obj is None:
            return (not injected), None
        records = obj.get("status", {}).get("experiment", {}).get("containerRecords") or []
        want = "Injected" if injected else "NotInjected"
        if records and all(r.get("phase") == want for r in records):
            return True, obj
        if time.monotonic() >= deadline:
            return False, obj
        time.sleep(0.2)


def _chaos_summary(obj: Mapping[str, Any] | None) -> str:
    if obj is None:
        return "deleted"
    records = obj.get("status", {}).get("experiment", {}).get("containerRecords") or []
    if not records:
        return "no records yet"
    return ", ".join(f"{r.get('id')}: {r.get('phase')}" for r in records)
