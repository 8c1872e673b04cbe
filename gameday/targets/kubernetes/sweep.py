"""The recovery sweep: undo what gameday left in a namespace, found by labels alone.

For `gameday recover` when no plan is left to revert from: every NetworkPolicy, canary
Deployment and Chaos Mesh object labelled as gameday's (of one run, or of all runs) is
deleted, and every workload annotated as stopped by gameday is scaled back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .api import CHAOS_KINDS
from .chaos import chaos_resource
from .labels import MANAGED_BY, RUN_LABEL, STOPPED_BY_ANNOTATION, label_value
from .workloads import restore_workloads

if TYPE_CHECKING:
    from .driver import KubernetesDriver

# a built-in kind the sweep deletes: (API group, plural, list, delete, extra delete options)
_SweptKind = tuple[str, str, Callable[..., Any], Callable[..., Any], dict[str, Any]]


def sweep(driver: KubernetesDriver, run_id: str | None = None) -> dict[str, Any]:
    """Delete every object gameday created in the namespace (of one run, or of all runs)."""
    api = driver.api
    sel = f"{MANAGED_BY}=gameday" + (f",{RUN_LABEL}={label_value(run_id)}" if run_id else "")
    out: dict[str, Any] = {"networkpolicies": [], "deployments": [], "chaos": [], "scaled": []}
    typed_kinds: tuple[_SweptKind, ...] = (
        (
            "networking.k8s.io",
            "networkpolicies",
            api.net.list_namespaced_network_policy,
            api.net.delete_namespaced_network_policy,
            {},
        ),
        (
            "apps",
            "deployments",
            api.apps.list_namespaced_deployment,
            api.apps.delete_namespaced_deployment,
            {"propagation_policy": "Foreground"},
        ),
    )
    for group, plural, list_fn, delete_fn, delete_options in typed_kinds:
        listed = api.call((group, plural, "list"), list_fn, driver.namespace, label_selector=sel)
        for obj in listed.items:
            api.optional(
                (group, plural, "delete"),
                delete_fn,
                obj.metadata.name,
                driver.namespace,
                **delete_options,
            )
            out[plural].append(obj.metadata.name)
    caps = driver.capabilities()
    for kind, plural in CHAOS_KINDS.items():
        if not caps.get(kind):
            continue
        chaos = chaos_resource(plural)
        for item in driver.custom("list", chaos, label_selector=sel).get("items", []):
            driver.custom("delete", chaos, item["metadata"]["name"], optional=True)
            out["chaos"].append(f"{kind}/{item['metadata']['name']}")
    # workloads scaled to zero carry their restore count in an annotation
    for kind, obj in driver.list_workloads():
        by = (obj.metadata.annotations or {}).get(STOPPED_BY_ANNOTATION)
        if by and (run_id is None or by.startswith(run_id + "/")):
            workload = {"kind": kind, "name": obj.metadata.name, "replicas": 0}
            out["scaled"].append(restore_workloads(driver, [workload]))
    return out
