"""Driver for workloads in a Kubernetes namespace (``target: {type: kubernetes}``).

A service is the pods carrying ``<selector_label>=<service>`` (default
``app.kubernetes.io/name``), or, for a group such as ``site-a``, the pods carrying the
label key ``group.gameday.dev/<service>``. Faults: crash (pod delete, grace period 0),
stop (scale to zero and back), network cut and partition (NetworkPolicies), gray release
(Argo Rollouts when installed, else a canary Deployment) and, through Chaos Mesh when its
CRDs are installed, latency (NetworkChaos) and pause (PodChaos).

Every object the driver creates is labelled with the drill and the run, and every plan's
``undo`` names what to delete or restore, so a new process reverts from the plan alone.

Modules: ``driver`` (the Target: configuration, services, preflight, health, events),
``api`` (recorded API calls and the RBAC they need), ``labels`` (labels, selectors, names),
``workloads`` (crash, stop), ``policies`` (network-cut, partition), ``chaos`` (latency,
pause), ``releases`` (gray-release) and ``sweep`` (recover by labels).
"""

from __future__ import annotations

from .driver import DRIVER, KubernetesDriver
from .labels import (
    DRILL_LABEL,
    FAULT_LABEL,
    MANAGED_BY,
    RUN_LABEL,
    label_value,
    object_name,
    selector_string,
)
from .releases import canary_replicas, with_tag

__all__ = [
    "DRILL_LABEL",
    "DRIVER",
    "FAULT_LABEL",
    "MANAGED_BY",
    "RUN_LABEL",
    "KubernetesDriver",
    "canary_replicas",
    "label_value",
    "object_name",
    "selector_string",
    "with_tag",
]
