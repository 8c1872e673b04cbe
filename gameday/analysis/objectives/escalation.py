"""Escalation time: first fault → the first escalated alert the drill's webhook received.

An escalated alert is a firing alert labelled `escalated="true"` (the sandbox's alerting
sends `AlertEscalated` when one alert fires N times within a window; an Alertmanager setup
adds the label in its escalation rule). Like detection, it is timed at receipt (±10 ms)
plus the injection instant's uncertainty. Without an escalation it is missed once the drill
observed past its deadline, and not judged when the drill ended before.
"""

from __future__ import annotations

from collections import Counter

from ...scenarios.units import format_duration
from ..milestones import ALERT_BOUND_S, DrillMilestones, alert_firing, injection_time
from ..timeline import ALERT, Event, Timeline
from .result import EPS, ObjectiveResult, at_most, not_judged, unmeasured

NAME = "escalation_time"
ESCALATED_LABEL = "escalated"


def _labels(event: Event) -> dict[str, str]:
    labels = event.detail.get("labels")
    return dict(labels) if isinstance(labels, dict) else {}


def is_escalation(event: Event) -> bool:
    """Whether an alert event is a firing escalated alert."""
    return alert_firing(event) and _labels(event).get(ESCALATED_LABEL) == "true"


def first_escalation(timeline: Timeline, t_inj: float) -> Event | None:
    """The first escalated alert received at or after injection."""
    found = [e for e in timeline.events_of(ALERT) if e.t >= t_inj and is_escalation(e)]
    return min(found, key=lambda e: e.t, default=None)


def escalation_pending(timeline: Timeline, bound: float | None, now: float) -> bool:
    """Whether a drill should keep observing for an escalation that may still come in time."""
    if bound is None:
        return False
    t_inj = injection_time(timeline)
    if t_inj is None or now >= t_inj + bound:
        return False
    return first_escalation(timeline, t_inj) is None


def _firings(timeline: Timeline, t_inj: float) -> str:
    """How often each alert fired after injection, e.g. `ComponentDown ×12`."""
    counts = Counter(e.name for e in timeline.events_of(ALERT) if e.t >= t_inj and alert_firing(e))
    return ", ".join(f"{name} ×{n}" for name, n in sorted(counts.items())) or "none"


def escalation_time(timeline: Timeline, ms: DrillMilestones, bound: float) -> ObjectiveResult:
    """first escalated alert − t_inj within `bound`; error = receipt bound + act_s."""
    text = f"≤ {format_duration(bound)}"
    t_inj = ms.t_inj
    if t_inj is None:
        return unmeasured(NAME, text, "s", "no fault was injected")
    event = first_escalation(timeline, t_inj)
    if event is not None:
        labels = _labels(event)
        return at_most(
            NAME,
            event.t - t_inj,
            ALERT_BOUND_S + ms.apply_s(),
            bound,
            "s",
            "escalated after",
            alert=event.name,
            escalated_from=labels.get("escalated_from"),
            escalated_at=event.t,
            injected_at=t_inj,
        )
    deadline = t_inj + bound
    fired = _firings(timeline, t_inj)
    end = ms.observed_until
    if end is None or end < deadline - EPS:
        how = "was aborted" if ms.aborted_at is not None else "stopped"
        stopped = "" if end is None else f" at +{format_duration(round(end - t_inj, 3))}"
        return not_judged(
            NAME,
            text,
            "s",
            f"the drill {how}{stopped}, before the escalation deadline "
            f"(+{format_duration(bound)}), without an escalation (alerts fired: {fired})",
            observed_until=end,
            alerts_fired=fired,
        )
    return unmeasured(
        NAME,
        text,
        "s",
        f"no escalated alert within the deadline (alerts fired: {fired})",
        observed_until=end,
        alerts_fired=fired,
    )
