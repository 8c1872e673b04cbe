"""The gray-release fault: a faulty version rolled out to a share of a service's traffic.

Through Argo Rollouts when the cluster serves it and a Rollout carries the service's label:
the Rollout gets the new images and canary steps, and revert aborts it (or, when the bad
version already became stable, promotes the old images straight back). Otherwise a canary
Deployment, a copy of the service's Deployment on the new version behind the same Service,
grows step by step; revert deletes it. The kind a plan journals says which of the two.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...scenarios.model import GrayReleaseFault
from ..base import FaultAction, FaultPlan, TargetError
from .api import MERGE_PATCH, ROLLOUTS, already_exists_ok
from .labels import FAULT_LABEL, RUN_ANNOTATION, RUN_LABEL, TRACK_LABEL, object_name
from .workloads import set_replicas

if TYPE_CHECKING:
    from .driver import KubernetesDriver

DEFAULT_INTERVAL_S = 30.0  # between canary steps when the fault names no interval


class RolloutRelease(FaultAction["KubernetesDriver"]):
    """Release through an Argo Rollout: new images and canary steps; revert aborts."""

    def find(self, driver: KubernetesDriver, service: str) -> dict[str, Any] | None:
        """The first Rollout labelled with ``service``; None without Argo Rollouts or one."""
        if not driver.capabilities()["rollouts"]:
            return None
        found = driver.custom(
            "list", ROLLOUTS, label_selector=f"{driver.selector_label}={service}"
        ).get("items", [])
        return dict(found[0]) if found else None

    def plan_for(
        self, driver: KubernetesDriver, fault: GrayReleaseFault, ro: Mapping[str, Any]
    ) -> FaultPlan:
        """Journal the Rollout's images and steps now; detail: the new images and steps."""
        interval = fault.interval or DEFAULT_INTERVAL_S
        containers = ro["spec"]["template"]["spec"]["containers"]
        images = {c["name"]: c["image"] for c in containers}
        undo = {
            "kind": "rollout",
            "name": ro["metadata"]["name"],
            "images": images,
            "steps": ro["spec"].get("strategy", {}).get("canary", {}).get("steps"),
            "version": fault.version,
        }
        steps: list[dict[str, Any]] = []
        for share in fault.steps:
            steps.append({"setWeight": round(share * 100)})
            if share < 1:
                steps.append({"pause": {"duration": f"{round(interval)}s"}})
        detail: dict[str, Any] = {
            "images": {n: with_tag(i, fault.version) for n, i in images.items()},
            "steps": steps,
        }
        touches = (f"rollout/{ro['metadata']['name']}@{fault.version}",)
        return driver.fault_plan(fault, undo, touches, detail)

    def apply(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Patch the Rollout's images and canary steps; Argo Rollouts does the rest."""
        images = dict(plan.detail["images"])
        ro = dict(driver.custom("get", ROLLOUTS, str(plan.undo["name"])))
        # a merge patch replaces lists whole: send every container, only images changed
        full = [
            {**c, "image": images.get(c["name"], c["image"])}
            for c in ro["spec"]["template"]["spec"]["containers"]
        ]
        patch = {
            "metadata": {"annotations": {RUN_ANNOTATION: plan.undo["run_id"]}},
            "spec": {
                "template": {"spec": {"containers": full}},
                "strategy": {"canary": {"steps": plan.detail["steps"]}},
            },
        }
        driver.custom("patch", ROLLOUTS, plan.undo["name"], patch, _content_type=MERGE_PATCH)
        return {"rollout": plan.undo["name"], "images": images, "steps": plan.detail["steps"]}

    def revert(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Abort (unless analysis did), restore images and steps; promote back if completed."""
        name = str(plan.undo["name"])
        ro = driver.custom("get", ROLLOUTS, name, optional=True)
        if ro is None:
            return {"skipped": f"rollout {name} is gone"}
        containers = ro["spec"]["template"]["spec"]["containers"]
        original = dict(plan.undo["images"])
        if all(original.get(c["name"], c["image"]) == c["image"] for c in containers):
            return {"rollout": name, "already": "on the previous images"}
        st = ro.get("status", {})
        result: dict[str, Any] = {
            "rollout": name,
            "phase": st.get("phase"),
            "aborted_by_analysis": bool(st.get("abort")),
        }
        completed = st.get("phase") == "Healthy" and st.get("stableRS") == st.get("currentPodHash")
        if not st.get("abort") and not completed:
            # what `kubectl argo rollouts abort` does: status.abort on the status subresource
            _patch_rollout_status(driver, name, {"abort": True})
            result["aborted"] = True
        spec_patch: dict[str, Any] = {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {**c, "image": original.get(c["name"], c["image"])} for c in containers
                        ]
                    }
                }
            }
        }
        if plan.undo.get("steps") is not None:
            spec_patch["spec"]["strategy"] = {"canary": {"steps": plan.undo["steps"]}}
        driver.custom("patch", ROLLOUTS, name, spec_patch, _content_type=MERGE_PATCH)
        if completed:
            # the bad version became stable: go straight back, skipping the canary steps
            _patch_rollout_status(driver, name, {"promoteFull": True})
            result["promoted_full"] = True
        result["images"] = original
        return result


class CanaryRelease(FaultAction["KubernetesDriver"]):
    """Release through a canary Deployment beside the stable one; revert deletes it."""

    def plan(self, driver: KubernetesDriver, fault: GrayReleaseFault) -> FaultPlan:
        """Name the canary after the service's (first) Deployment; detail: shares, interval."""
        stable = [w for w in driver.workloads(fault.service) if w["kind"] == "Deployment"]
        if not stable:
            raise TargetError(
                f"no Rollout or Deployment labelled {driver.selector_label}={fault.service} "
                f"in {driver.namespace} to release {fault.version} to"
            )
        name = object_name(stable[0]["name"], "gameday-canary")
        undo = {
            "kind": "canary",
            "name": name,
            "stable": stable[0]["name"],
            "version": fault.version,
        }
        detail = {"shares": list(fault.steps), "interval_s": fault.interval or DEFAULT_INTERVAL_S}
        return driver.fault_plan(fault, undo, (f"deployment/{name}@{fault.version}",), detail)

    def apply(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Create the canary at the first share; a thread grows it through the others."""
        stable = driver.api.call(
            ("apps", "deployments", "get"),
            driver.api.apps.read_namespaced_deployment,
            plan.undo["stable"],
            driver.namespace,
        )
        raw = driver.api.client.sanitize_for_serialization(stable)
        labels = dict(plan.undo["labels"])
        tmpl = raw["spec"]["template"]
        tmpl["metadata"]["labels"] = {
            **tmpl["metadata"].get("labels", {}),
            **labels,
            TRACK_LABEL: "canary",
        }
        for c in tmpl["spec"]["containers"]:
            c["image"] = with_tag(c["image"], str(plan.undo["version"]))
        selector = raw["spec"]["selector"]
        selector["matchLabels"] = {**selector.get("matchLabels", {}), TRACK_LABEL: "canary"}
        shares = [float(s) for s in plan.detail["shares"]]
        base_replicas = int(stable.spec.replicas or 1)
        body: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": plan.undo["name"],
                "namespace": driver.namespace,
                "labels": {**(raw["metadata"].get("labels") or {}), **labels},
                "annotations": {RUN_ANNOTATION: plan.undo["run_id"]},
            },
            "spec": {
                "replicas": canary_replicas(base_replicas, shares[0]),
                "selector": selector,
                "template": tmpl,
            },
        }
        with already_exists_ok():
            driver.api.call(
                ("apps", "deployments", "create"),
                driver.api.apps.create_namespaced_deployment,
                driver.namespace,
                body,
            )
        if len(shares) > 1:
            name, interval = str(plan.undo["name"]), float(plan.detail["interval_s"])
            stop = threading.Event()
            driver.steppers[name] = stop
            threading.Thread(
                target=_step_canary,
                args=(driver, name, base_replicas, shares[1:], interval, stop),
                daemon=True,
                name=f"canary-{name}",
            ).start()
        return {
            "canary": plan.undo["name"],
            "replicas": body["spec"]["replicas"],
            "share": shares[0],
        }

    def revert(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Stop the steps, delete the canary and wait until its pods are gone."""
        name = str(plan.undo["name"])
        stop = driver.steppers.pop(name, None)
        if stop is not None:
            stop.set()
        gone = (
            driver.api.optional(
                ("apps", "deployments", "delete"),
                driver.api.apps.delete_namespaced_deployment,
                name,
                driver.namespace,
                propagation_policy="Foreground",
            )
            is None
        )
        run_labels = plan.undo["labels"]
        sel = f"{TRACK_LABEL}=canary,{FAULT_LABEL}={run_labels[FAULT_LABEL]},{RUN_LABEL}={run_labels[RUN_LABEL]}"
        ok, left = driver.api.watch_until(
            ("", "pods", "list"),
            driver.api.core.list_namespaced_pod,
            lambda items: not items,
            driver.wait_s,
            namespace=driver.namespace,
            label_selector=sel,
        )
        if not ok:
            raise TargetError(
                f"canary pods still running: {', '.join(p['metadata']['name'] for p in left)}"
            )
        return {"deleted": f"deployment/{name}", "already_gone": gone}


class GrayReleaseAction(FaultAction["KubernetesDriver"]):
    """A Rollout when one serves the service, else a canary Deployment; the plan says which."""

    rollout = RolloutRelease()
    canary = CanaryRelease()

    def backend(self, plan: FaultPlan) -> FaultAction[KubernetesDriver]:
        """The backend that applied (or would apply) ``plan``, from its journaled kind."""
        return self.rollout if plan.undo.get("kind") == "rollout" else self.canary

    def plan(self, driver: KubernetesDriver, fault: GrayReleaseFault) -> FaultPlan:
        """Plan through the service's Rollout if there is one, else a canary Deployment."""
        ro = self.rollout.find(driver, fault.service)
        if ro is None:
            return self.canary.plan(driver, fault)
        return self.rollout.plan_for(driver, fault, ro)

    def apply(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Start the release through the plan's backend."""
        return self.backend(plan).apply(driver, plan)

    def revert(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Undo the release through the plan's backend."""
        return self.backend(plan).revert(driver, plan)


def rollout_progress(driver: KubernetesDriver, name: str, until: float) -> list[dict[str, Any]]:
    """Watch a Rollout's steps, analysis and abort until it settles or ``until`` seconds pass."""
    group, version, plural = ROLLOUTS
    seen: list[dict[str, Any]] = []

    def settled(items: list[Any]) -> bool:
        for ro in items:
            if ro["metadata"]["name"] != name:
                continue
            st = ro.get("status", {})
            entry = {
                "phase": st.get("phase"),
                "step": st.get("currentStepIndex"),
                "abort": bool(st.get("abort")),
                "analysis": (st.get("canary", {}).get("currentStepAnalysisRunStatus") or {}).get(
                    "status"
                ),
            }
            if not seen or seen[-1] != entry:
                seen.append(entry)
            return bool(entry["abort"]) or entry["phase"] in ("Healthy", "Degraded")
        return False

    driver.api.watch_until(
        (group, plural, "list"),
        driver.api.custom.list_namespaced_custom_object,
        settled,
        until,
        group=group,
        version=version,
        namespace=driver.namespace,
        plural=plural,
        field_selector=f"metadata.name={name}",
    )
    return seen


def _patch_rollout_status(driver: KubernetesDriver, name: str, status: dict[str, Any]) -> None:
    """Merge-patch a Rollout's status subresource, as the Argo kubectl plugin does."""
    group, version, plural = ROLLOUTS
    driver.api.call(
        (group, "rollouts/status", "patch"),
        driver.api.custom.patch_namespaced_custom_object_status,
        group,
        version,
        driver.namespace,
        plural,
        name,
        {"status": status},
        _content_type=MERGE_PATCH,
    )


def _step_canary(
    driver: KubernetesDriver,
    name: str,
    base: int,
    shares: list[float],
    interval: float,
    stop: threading.Event,
) -> None:
    for share in shares:
        if stop.wait(interval):
            return
        with contextlib.suppress(TargetError):
            set_replicas(driver, "Deployment", name, canary_replicas(base, share))


def canary_replicas(stable: int, share: float) -> int:
    """Canary replicas so that canary / (stable + canary) ≈ ``share`` (at least one)."""
    if share >= 1:
        return max(1, stable)
    return max(1, math.ceil(stable * share / (1 - share)))


def with_tag(image: str, tag: str) -> str:
    """``image`` with its tag (or digest) replaced by ``tag``."""
    base = image.split("@", 1)[0]
    slash = base.rfind("/")
    colon = base.rfind(":")
    if colon > slash:
        base = base[:colon]
    return f"{base}:{tag}"
