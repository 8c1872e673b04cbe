"""Faults on workloads: crash (delete pods, grace period 0) and stop (scale to zero and back).

A stopped workload records its replicas and the fault on itself (annotations) before it is
scaled down, so a revert or `gameday recover` restores it even from a stale plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kubernetes import client

from ...scenarios.model import CrashFault, StopFault
from ..base import FaultAction, FaultPlan, TargetError, UnsupportedFault, acting
from .api import MERGE_PATCH, WORKLOAD_KINDS, ApiError
from .labels import RESTORE_ANNOTATION, STOPPED_BY_ANNOTATION, selector_string

if TYPE_CHECKING:
    from .driver import KubernetesDriver


class CrashAction(FaultAction["KubernetesDriver"]):
    """Delete the chosen pods at once; their controller recreates them, so revert only says so."""

    def plan(self, driver: KubernetesDriver, fault: CrashFault) -> FaultPlan:
        """The pods chosen now (name and uid), first by name."""
        if not fault.restart:
            raise UnsupportedFault(
                "a crashed pod is recreated by its controller; use 'action: stop' to keep it down"
            )
        sel = driver.resolve(fault.service)
        pods = sorted(driver.pods(sel), key=lambda p: p.metadata.name)
        if fault.pods == "all":
            count = len(pods)
        elif isinstance(fault.pods, float):
            count = max(1, math.ceil(fault.pods * len(pods)))
        else:
            count = min(int(fault.pods), len(pods))
        chosen = [{"name": p.metadata.name, "uid": p.metadata.uid} for p in pods[:count]]
        undo = {"kind": "recreated", "selector": sel, "pods": chosen}
        detail = {"of": len(pods), "grace_period_seconds": 0}
        return driver.fault_plan(fault, undo, tuple(f"pod/{c['name']}" for c in chosen), detail)

    def apply(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Delete the pods, then watch until none of them is listed."""
        deleted: list[str] = []
        for pod in plan.undo["pods"]:
            # the uid precondition spares a StatefulSet pod already recreated under the same name
            opts = client.V1DeleteOptions(
                grace_period_seconds=0, preconditions=client.V1Preconditions(uid=pod["uid"])
            )
            try:
                with acting():  # grace 0: the API server accepting the delete is the kill
                    driver.api.call(
                        ("", "pods", "delete"),
                        driver.api.core.delete_namespaced_pod,
                        pod["name"],
                        driver.namespace,
                        grace_period_seconds=0,
                        body=opts,
                    )
                deleted.append(pod["name"])
            except ApiError as exc:
                if exc.status not in (404, 409):  # gone, or already replaced: nothing to kill
                    raise
        uids = {p["uid"] for p in plan.undo["pods"]}
        gone, _ = driver.api.watch_until(
            ("", "pods", "list"),
            driver.api.core.list_namespaced_pod,
            lambda items: not uids & {i["metadata"].get("uid") for i in items},
            driver.wait_s,
            namespace=driver.namespace,
            label_selector=selector_string(plan.undo["selector"]),
        )
        if not gone:
            raise TargetError(
                f"pods {', '.join(deleted)} still listed {driver.wait_s:g}s after delete"
            )
        return {"deleted": deleted, "grace_period_seconds": 0}

    def revert(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Nothing to do: the pods' controller has recreated them."""
        return {"recreated_by": "the pods' controller"}


class StopAction(FaultAction["KubernetesDriver"]):
    """Scale the service's Deployments and StatefulSets to zero; revert restores their replicas."""

    def plan(self, driver: KubernetesDriver, fault: StopFault) -> FaultPlan:
        """The workloads labelled with the service, with their replicas now."""
        workloads = driver.workloads(fault.service)
        if not workloads:
            raise TargetError(
                f"no Deployment or StatefulSet labelled {driver.selector_label}={fault.service} "
                f"in {driver.namespace} to scale to zero"
            )
        undo = {"kind": "scale", "workloads": workloads}
        return driver.fault_plan(
            fault, undo, tuple(f"{w['kind'].lower()}/{w['name']}" for w in workloads)
        )

    def apply(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Annotate each workload with its replicas (once), then scale it to zero."""
        token = f"{plan.undo['run_id']}/{plan.fault}"
        done: dict[str, int] = {}
        for w in plan.undo["workloads"]:
            obj = read_workload(driver, w["kind"], w["name"])
            ann = obj.metadata.annotations or {}
            if STOPPED_BY_ANNOTATION not in ann:
                # recorded on the object first: recover restores from it even if the plan is stale
                scale = driver.api.call(
                    ("apps", f"{WORKLOAD_KINDS[w['kind']]}/scale", "get"),
                    driver.apps_method("read", w["kind"], "_scale"),
                    w["name"],
                    driver.namespace,
                )
                patch = {
                    "metadata": {
                        "resourceVersion": obj.metadata.resource_version,
                        "annotations": {
                            RESTORE_ANNOTATION: str(scale.spec.replicas or 0),
                            STOPPED_BY_ANNOTATION: token,
                        },
                    }
                }
                patch_workload(driver, w["kind"], w["name"], patch)
            set_replicas(driver, w["kind"], w["name"], 0)
            done[f"{w['kind'].lower()}/{w['name']}"] = 0
        return {"scaled": done}

    def revert(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Restore the replicas the workloads recorded; skip those never stopped or gone."""
        return {"restored": restore_workloads(driver, plan.undo["workloads"])}


def restore_workloads(
    driver: KubernetesDriver, workloads: list[Mapping[str, Any]]
) -> dict[str, int]:
    """Scale back each workload gameday stopped to its annotated replicas; kind/name -> replicas."""
    restored: dict[str, int] = {}
    for w in workloads:
        obj = read_workload(driver, w["kind"], w["name"], optional=True)
        ann = (obj.metadata.annotations or {}) if obj is not None else {}
        if obj is None or STOPPED_BY_ANNOTATION not in ann:
            continue  # never applied, already restored, or deleted since
        replicas = int(ann.get(RESTORE_ANNOTATION, w["replicas"] or 0))
        set_replicas(driver, w["kind"], w["name"], replicas)
        patch_workload(
            driver,
            w["kind"],
            w["name"],
            {"metadata": {"annotations": {RESTORE_ANNOTATION: None, STOPPED_BY_ANNOTATION: None}}},
        )
        restored[f"{w['kind'].lower()}/{w['name']}"] = replicas
    return restored


def read_workload(driver: KubernetesDriver, kind: str, name: str, *, optional: bool = False) -> Any:
    """Read a Deployment or StatefulSet; ``optional`` makes a 404 None."""
    perm = ("apps", WORKLOAD_KINDS[kind], "get")
    call: Callable[..., Any] = driver.api.optional if optional else driver.api.call
    return call(perm, driver.apps_method("read", kind), name, driver.namespace)


def patch_workload(driver: KubernetesDriver, kind: str, name: str, patch: dict[str, Any]) -> None:
    """Merge-patch a Deployment or StatefulSet."""
    driver.api.call(
        ("apps", WORKLOAD_KINDS[kind], "patch"),
        driver.apps_method("patch", kind),
        name,
        driver.namespace,
        patch,
        _content_type=MERGE_PATCH,
    )


def set_replicas(driver: KubernetesDriver, kind: str, name: str, replicas: int) -> None:
    """Merge-patch the replicas of a Deployment's or StatefulSet's scale subresource."""
    driver.api.call(
        ("apps", f"{WORKLOAD_KINDS[kind]}/scale", "patch"),
        driver.apps_method("patch", kind, "_scale"),
        name,
        driver.namespace,
        {"spec": {"replicas": replicas}},
        _content_type=MERGE_PATCH,
    )
