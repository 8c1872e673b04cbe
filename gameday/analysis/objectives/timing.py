"""Time objectives measured from the first fault: recovery, failover and detection time.

Each is a milestone minus the injection time; its error is the milestone's bound (half its
bracket) plus the injection instant's (how long the driver's act took). Recovery and
failover read "met — no impact observed" when nothing after injection was impacted, and
are not judged when the drill stopped before their deadline could pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...scenarios.model import AnyFault
from ...scenarios.units import format_duration
from ..milestones import DrillMilestones, Milestone
from ..timeline import FAULT_INJECTED, Timeline
from .result import (
    EPS,
    ObjectiveResult,
    at_most,
    met_without_measurement,
    not_judged,
    unmeasured,
)

NO_IMPACT = "met — no impact observed"


def _t(milestone: Milestone | None) -> float | None:
    return None if milestone is None else float(milestone.t)


def _rel(ms: DrillMilestones, t: float) -> str:
    """A time as `+12.5s` after injection."""
    return "+" + format_duration(round(t - (ms.t_inj or 0.0), 3))


def _relapses(ms: DrillMilestones) -> list[dict[str, Any]]:
    return [r.to_json() for r in ms.relapses]


def _relapse_text(ms: DrillMilestones) -> str:
    return "; ".join(
        f"recovery at {_rel(ms, r.recovered_at)} was followed by impact at {_rel(ms, r.impact_at)}"
        for r in ms.relapses
    )


def _never_recovered(ms: DrillMilestones) -> str:
    """Why there is no recovery, with the relapses that ended the earlier ones."""
    why = "never recovered within the deadline"
    return f"{why} ({_relapse_text(ms)})" if ms.relapses else why


def absorbed(timeline: Timeline, faults: Sequence[AnyFault]) -> bool:
    """Whether every injected fault's scenario says `expect: absorbed` (no impact is the goal)."""
    injected = {e.name for e in timeline.events_of(FAULT_INJECTED)}
    expects = [getattr(f, "expect", "impact") for f in faults if f.label() in injected]
    return bool(expects) and all(e == "absorbed" for e in expects)


def _without_impact(
    name: str, ms: DrillMilestones, text: str, absorbed: bool
) -> ObjectiveResult | None:
    """The result when no steady-state stream was impacted after injection, else None."""
    if ms.impacted:
        return None
    if not ms.observed:
        return not_judged(name, text, "s", "no steady-state observation after the injection")
    note = "absorbed as expected" if absorbed else "the fault may not have taken effect"
    return met_without_measurement(name, text, "s", NO_IMPACT, impacted=False, note=note)


def _since_injection(
    name: str,
    ms: DrillMilestones,
    bound: float,
    milestone: Milestone | None,
    *,
    missing: str,
    what: str,
    detail: Callable[[Milestone, float], Mapping[str, Any]],
    **missing_detail: Any,
) -> ObjectiveResult:
    """milestone − t_inj within `bound`; error = its bound + the injection instant's.

    Fails with `missing` (and `missing_detail`) when the milestone never happened.
    """
    if ms.t_inj is None:
        return unmeasured(name, f"≤ {format_duration(bound)}", "s", "no fault was injected")
    if milestone is None:
        return unmeasured(name, f"≤ {format_duration(bound)}", "s", missing, **missing_detail)
    return at_most(
        name,
        milestone.t - ms.t_inj,
        milestone.bound + ms.apply_s(),
        bound,
        "s",
        what,
        **detail(milestone, ms.t_inj),
    )


def recovery_time(ms: DrillMilestones, bound: float, *, absorbed: bool = False) -> ObjectiveResult:
    """recovered − t_inj, recovered being after the last impact; error = half its bracket + act_s.

    `absorbed`: every injected fault was expected to be absorbed (worded in the detail).
    """
    name, text = "recovery_time", f"≤ {format_duration(bound)}"
    if ms.t_inj is not None:
        quiet = _without_impact(name, ms, text, absorbed)
        if quiet is not None:
            return quiet
        deadline = ms.t_inj + bound + ms.stable_for
        if ms.recovered is None and ms.aborted_at is not None and ms.aborted_at < deadline - EPS:
            return not_judged(
                name,
                text,
                "s",
                f"aborted at {_rel(ms, ms.aborted_at)}, before the recovery deadline "
                f"({_rel(ms, deadline)}), without a recovery",
                impact=_t(ms.impact),
                relapses=_relapses(ms),
            )
    return _since_injection(
        name,
        ms,
        bound,
        ms.recovered,
        missing=_never_recovered(ms),
        what="recovered after",
        detail=lambda m, t_inj: {
            "recovered_at": m.t,
            "injected_at": t_inj,
            "bracket": m.detail.get("bracket"),
            "decided_by": m.detail.get("decided_by"),
            "confirmed_at": m.detail.get("confirmed_at"),
            "impacted": m.detail.get("impacted"),
            "relapses": _relapses(ms),
        },
        impact=_t(ms.impact),
        relapses=_relapses(ms),
    )


def failover_time(ms: DrillMilestones, bound: float, *, absorbed: bool = False) -> ObjectiveResult:
    """failover.completed − t_inj: recovery while the fault was still in force.

    Without a failover it is missed only once the drill observed past the moment a failover
    within `bound` would have been confirmed (or past the revert that ended the fault, plus
    `stable_for`); a drill that stopped earlier did not judge it.
    """
    name, text = "failover_time", f"≤ {format_duration(bound)}"
    if ms.t_inj is not None:
        quiet = _without_impact(name, ms, text, absorbed)
        if quiet is not None:
            return quiet
        if ms.failover is None:
            last_chance = ms.t_inj + bound
            if ms.revert_at is not None:
                last_chance = min(last_chance, ms.revert_at)
            decided = last_chance + ms.stable_for
            end = ms.observed_until
            if end is not None and end < decided - EPS:
                how = "was aborted" if ms.aborted_at is not None else "stopped"
                return not_judged(
                    name,
                    text,
                    "s",
                    f"the drill {how} at {_rel(ms, end)}, before the failover deadline "
                    f"({_rel(ms, decided)}) passed, without a failover",
                    recovered_at=_t(ms.recovered),
                    observed_until=end,
                )
            if ms.recovered is None:
                return unmeasured(name, text, "s", _never_recovered(ms), relapses=_relapses(ms))
    return _since_injection(
        name,
        ms,
        bound,
        ms.failover,
        missing="recovered only after the fault was reverted",
        what="failed over after",
        detail=lambda m, t_inj: {
            "failover_at": m.t,
            "injected_at": t_inj,
            "bracket": m.detail.get("bracket"),
            "fault_reverted_at": m.detail.get("fault_reverted_at"),
        },
        recovered_at=_t(ms.recovered),
    )


def detection_time(ms: DrillMilestones, bound: float) -> ObjectiveResult:
    """detected − t_inj: the first firing alert received after injection."""
    return _since_injection(
        "detection_time",
        ms,
        bound,
        ms.detected,
        missing="no alert received",
        what="first alert after",
        detail=lambda m, _: {"alert": m.detail.get("alert"), "detected_at": m.t},
    )
