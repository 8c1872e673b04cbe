"""Network faults as NetworkPolicies: network-cut (isolate a service) and partition.

NetworkPolicies only allow, and drop what they do not allow (a blackhole, never a reset):
an isolated service's policy allows nothing; each side of a partition gets a policy allowing
every peer except the other side's pods. Revert deletes the policies by name.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...scenarios.model import AnyFault, NetworkCutFault, PartitionFault
from ..base import FaultAction, FaultPlan, UnsupportedFault, acting
from .api import already_exists_ok
from .labels import RUN_ANNOTATION, object_name, selector_string

if TYPE_CHECKING:
    from .driver import KubernetesDriver


class _PolicyAction(FaultAction["KubernetesDriver"]):
    """Create the planned NetworkPolicies; revert deletes them (a 404 is already done)."""

    def apply(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Create each policy; a 409 AlreadyExists is a retried apply."""
        created = []
        for policy in plan.detail["objects"]:
            with acting(), already_exists_ok():
                driver.api.call(
                    ("networking.k8s.io", "networkpolicies", "create"),
                    driver.api.net.create_namespaced_network_policy,
                    driver.namespace,
                    policy,
                )
            created.append(policy["metadata"]["name"])
        return {"networkpolicies": created}

    def revert(self, driver: KubernetesDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Delete the policies the plan names; returns those that were still there."""
        deleted = []
        for name in plan.undo["names"]:
            if (
                driver.api.optional(
                    ("networking.k8s.io", "networkpolicies", "delete"),
                    driver.api.net.delete_namespaced_network_policy,
                    name,
                    str(plan.undo["namespace"]),
                )
                is not None
            ):
                deleted.append(name)
        return {"deleted": deleted}


class NetworkCutAction(_PolicyAction):
    """Isolate a service: one policy selecting its pods, allowing nothing in or out."""

    def plan(self, driver: KubernetesDriver, fault: NetworkCutFault) -> FaultPlan:
        """The isolating policy; 'mode: reset' cannot be done with NetworkPolicies."""
        if fault.mode == "reset":
            raise UnsupportedFault(
                "NetworkPolicies drop packets (blackhole); 'mode: reset' is not available"
            )
        sel = driver.resolve(fault.service)
        policy = _policy(driver, fault.label(), fault.service, sel, None)
        return _policy_plan(driver, fault, [policy], (f"pods {selector_string(sel)}",))


class PartitionAction(_PolicyAction):
    """Split services into two sides: each side's pods may reach anything but the other side."""

    def plan(self, driver: KubernetesDriver, fault: PartitionFault) -> FaultPlan:
        """One policy per service of each side, excluding the other side's pods."""
        label = fault.label()
        sides = [[driver.resolve(s) for s in group] for group in fault.between]
        policies = []
        for mine, other in ((sides[0], sides[1]), (sides[1], sides[0])):
            for i, sel in enumerate(mine):
                policies.append(_policy(driver, label, str(i), sel, other))
        touches = tuple(selector_string(s) for side in sides for s in side)
        return _policy_plan(driver, fault, policies, touches)


def _policy(
    driver: KubernetesDriver,
    label: str,
    suffix: str,
    sel: dict[str, Any],
    others: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """A NetworkPolicy for pods ``sel``: isolated (``others`` None) or cut off from ``others``."""
    if others is None:
        # isolation: both directions selected, no rule allows anything
        ingress: list[Any] = []
        egress: list[Any] = []
    else:
        # NetworkPolicies only allow: permit every peer except the other side's pods
        peers = [
            {"podSelector": _not_any(others)},
            {
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "NotIn",
                            "values": [driver.namespace],
                        }
                    ]
                }
            },
        ]
        ingress, egress = [{"from": peers}], [{"to": peers}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": object_name("gameday", label, suffix, secrets.token_hex(2)),
            "namespace": driver.namespace,
            "labels": driver.labels(label),
            "annotations": {RUN_ANNOTATION: driver.run_id},
        },
        "spec": {
            "podSelector": sel,
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def _policy_plan(
    driver: KubernetesDriver,
    fault: AnyFault,
    policies: list[dict[str, Any]],
    touches: tuple[str, ...],
) -> FaultPlan:
    undo = {"kind": "networkpolicies", "names": [p["metadata"]["name"] for p in policies]}
    return driver.fault_plan(fault, undo, touches, {"objects": policies})


def _not_any(selectors: list[dict[str, Any]]) -> dict[str, Any]:
    """A pod selector matching pods that none of ``selectors`` matches (one label each)."""
    exprs: list[dict[str, Any]] = []
    names: dict[str, list[str]] = {}
    for sel in selectors:
        for key, value in (sel.get("matchLabels") or {}).items():
            names.setdefault(key, []).append(value)
        for e in sel.get("matchExpressions") or []:
            exprs.append({"key": e["key"], "operator": "DoesNotExist"})
    for key, values in names.items():
        exprs.append({"key": key, "operator": "NotIn", "values": sorted(values)})
    return {"matchExpressions": exprs}
