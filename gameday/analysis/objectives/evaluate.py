"""The evaluation entry point: judge every objective a scenario sets, in a fixed order."""

from __future__ import annotations

from collections.abc import Sequence

from ...scenarios.model import AnyFault, Objectives
from ..milestones import DrillMilestones, derive_milestones
from ..timeline import Timeline
from .blind import judge_blind
from .data_loss import data_loss
from .escalation import escalation_time
from .gray_release import blast_radius, release_outcome, rollback_time
from .result import ObjectiveResult
from .surge import breakers_close_within, protected_success
from .timing import absorbed, detection_time, failover_time, recovery_time
from .traffic import availability, p99_after_recovery


def evaluate_objectives(
    timeline: Timeline,
    objectives: Objectives,
    *,
    stable_for: float,
    min_traffic_success: float | None = None,
    faults: Sequence[AnyFault] = (),
    milestones: DrillMilestones | None = None,
) -> list[ObjectiveResult]:
    """Judge every objective that is set, in a fixed order, then every gray release's outcome."""
    ms = milestones or derive_milestones(timeline, stable_for, min_traffic_success)
    out: list[ObjectiveResult] = []
    quiet = absorbed(timeline, faults)
    if objectives.recovery_time is not None:
        out.append(recovery_time(ms, objectives.recovery_time, absorbed=quiet))
    if objectives.failover_time is not None:
        out.append(failover_time(ms, objectives.failover_time, absorbed=quiet))
    if objectives.detection_time is not None:
        out.append(detection_time(ms, objectives.detection_time))
    if objectives.escalation_time is not None:
        out.append(escalation_time(timeline, ms, objectives.escalation_time))
    if objectives.data_loss is not None:
        out.append(
            data_loss(timeline, objectives.data_loss.max_writes, objectives.data_loss.max_span)
        )
    if objectives.availability is not None:
        out.append(availability(timeline, objectives.availability))
    if objectives.p99_latency is not None:
        out.append(p99_after_recovery(timeline, ms, objectives.p99_latency))
    if objectives.rollback_time is not None:
        out.append(rollback_time(timeline, faults, objectives.rollback_time))
    if objectives.blast_radius is not None:
        out.append(blast_radius(timeline, faults, objectives.blast_radius))
    ps = objectives.protected_success
    if ps is not None:
        out.append(
            protected_success(
                timeline, faults, ps.requests, ps.min, ps.max_shed, ps.max_5xx, ps.max_circuit
            )
        )
        if ps.breakers_close_within is not None:
            out.append(breakers_close_within(timeline, faults, ps.breakers_close_within))
    # every gray release is judged on how it ended, whatever objectives the scenario sets
    out.extend(release_outcome(timeline, faults))
    return judge_blind(out, timeline, traffic_in_steady_state=min_traffic_success is not None)
