"""Objective evaluation: every bound in `Objectives` judged against a finished Timeline.

Pure code, no I/O. Missing or inconclusive data fails an objective with a reason; it never
passes. Every measured value carries its error bound (sampling interval, window edges,
histogram resolution) so a report can print `recovery 41.2 s (±0.25 s)`.

One module per job; this package re-exports the public names:

- `result`: `ObjectiveResult` and how a value is judged against a bound
- `windows`: where on the timeline an objective looks (phases, fault and traffic windows)
- `timing`: recovery, failover and detection time
- `escalation`: first fault → first escalated alert
- `data_loss`: acknowledged ledger writes lost
- `traffic`: availability and p99 latency after recovery
- `gray_release`: rollback time and blast radius of a bad version
- `surge`: protected success and breakers closing during a load surge
- `hops`: per-hop latency of the request path
- `evaluate`: `evaluate_objectives`, every objective a scenario sets
- `verdict`: overall verdict, exit code and deviations
"""

from __future__ import annotations

from .data_loss import data_loss, ledger_interval
from .escalation import escalation_pending, escalation_time
from .evaluate import evaluate_objectives
from .gray_release import (
    CLEAN_AFTER_ROLLBACK_S,
    FULL_ROLLOUT_SHARE,
    GrayRelease,
    blast_radius,
    gray_release,
    release_outcome,
    release_settled,
    rollback_time,
)
from .hops import HOP_THRESHOLD_S, HopResult, HopStats, hop_latency
from .result import ObjectiveResult, Unit
from .surge import breakers_close_within, protected_success
from .timing import detection_time, failover_time, recovery_time
from .traffic import availability, p99_after_recovery
from .verdict import deviations, overall_verdict
from .windows import aggregate_windows, fault_windows, observation_end, phase_time

__all__ = [
    "CLEAN_AFTER_ROLLBACK_S",
    "FULL_ROLLOUT_SHARE",
    "HOP_THRESHOLD_S",
    "GrayRelease",
    "HopResult",
    "HopStats",
    "ObjectiveResult",
    "Unit",
    "aggregate_windows",
    "availability",
    "blast_radius",
    "breakers_close_within",
    "data_loss",
    "detection_time",
    "deviations",
    "escalation_pending",
    "escalation_time",
    "evaluate_objectives",
    "failover_time",
    "fault_windows",
    "gray_release",
    "hop_latency",
    "ledger_interval",
    "observation_end",
    "overall_verdict",
    "p99_after_recovery",
    "phase_time",
    "protected_success",
    "recovery_time",
    "release_outcome",
    "release_settled",
    "rollback_time",
]
