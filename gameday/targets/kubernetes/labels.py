"""The labels and annotations gameday writes, label selectors, and the names it gives objects.

Every object the driver creates carries ``MANAGED_BY=gameday`` and the run, drill and fault
labels, so `gameday recover` can find it by label alone; a workload it scaled down carries
its restore count in ``RESTORE_ANNOTATION``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

MANAGED_BY = "app.kubernetes.io/managed-by"
RUN_LABEL = "gameday.dev/run"
DRILL_LABEL = "gameday.dev/drill"
FAULT_LABEL = "gameday.dev/fault"
TRACK_LABEL = "gameday.dev/track"
STAGING_LABEL = "gameday.dev/environment"
GROUP_PREFIX = "group.gameday.dev/"
RUN_ANNOTATION = "gameday.dev/run-id"  # the full run id (a label value is capped at 63)
RESTORE_ANNOTATION = "gameday.dev/restore-replicas"
STOPPED_BY_ANNOTATION = "gameday.dev/stopped-by"
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]")


def label_value(text: str) -> str:
    """``text`` as a valid label value: ≤ 63 chars, alphanumeric at both ends."""
    clean = _LABEL_VALUE.sub("-", text).strip("-_.")
    if len(clean) > 63:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        clean = clean[:54].rstrip("-_.") + "-" + digest
    return clean or "none"


def object_name(*parts: str) -> str:
    """A DNS-1123 object name from ``parts`` (hashed when it would exceed 63 chars)."""
    raw = "-".join(p for p in parts if p).lower()
    clean = re.sub(r"[^a-z0-9-]", "-", raw).strip("-")
    if len(clean) > 63:
        clean = clean[:54].rstrip("-") + "-" + hashlib.sha256(raw.encode()).hexdigest()[:8]
    return clean


def selector_string(sel: Mapping[str, Any]) -> str:
    """A LabelSelector in the query syntax (``a=b,c in (d),!e``)."""
    parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
    for expr in sel.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key} {op.lower()} ({','.join(values)})")
    return ",".join(parts)
