"""Events that audit the drill: one per fault applied and reverted, in `kubectl get events`.

Best effort: an Event that cannot be written never blocks a fault or its revert.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..base import FaultPlan, TargetError
from .labels import label_value

if TYPE_CHECKING:
    from .driver import KubernetesDriver


def record_event(driver: KubernetesDriver, plan: FaultPlan, reason: str, message: str) -> None:
    """An Event in the namespace, labelled as the plan's objects, so the drill shows there."""
    now = datetime.now(UTC)
    labels = dict(plan.undo.get("labels") or driver.labels(plan.fault))
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "generateName": "gameday-",
            "namespace": driver.namespace,
            "labels": labels,
        },
        "involvedObject": {"kind": "Namespace", "name": driver.namespace, "apiVersion": "v1"},
        "reason": reason,
        "message": message[:1000],
        "type": "Warning" if reason.endswith("Injected") else "Normal",
        "source": {"component": "gameday"},
        "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "count": 1,
        "reportingComponent": "gameday",
        "reportingInstance": label_value(str(plan.undo.get("run_id") or driver.run_id)),
    }
    with contextlib.suppress(TargetError):  # an audit nicety never blocks a fault
        driver.api.call(
            ("", "events", "create"),
            driver.api.core.create_namespaced_event,
            driver.namespace,
            body,
        )
