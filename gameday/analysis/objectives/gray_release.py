"""Gray-release objectives: what traffic saw of a version, rollback time, blast radius, outcome.

A release is judged on traffic from its injection to the end of observation, or to the
drill's own revert of the fault when that came first (a revert is not a rollback). Where
windows carry 25 ms slices, requests are placed in their slice; older reports fall back to
whole 1 s windows and evaluate as they always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...scenarios.model import AnyFault, GrayReleaseFault
from ...scenarios.units import format_duration, format_percent
from ...traffic.stats import TrafficWindow
from ..timeline import Event, Timeline
from .result import EPS, ObjectiveResult, at_most, not_judged, unmeasured
from .windows import (
    Cell,
    aggregate_windows,
    cells,
    count_between,
    fault_action,
    fault_named,
    injections,
    observation_end,
    revert_of,
    version_count,
)

CLEAN_AFTER_ROLLBACK_S = 2.0  # traffic without the bad version needed to call it rolled back
FULL_ROLLOUT_SHARE = 0.99  # a canary share this high means the version reached 100%
OUTCOME = "release_outcome"


@dataclass(frozen=True)
class GrayRelease:
    """What traffic saw of one gray release."""

    fault: str
    version: str
    t_release: float
    expect_rollback: bool
    windows: tuple[TrafficWindow, ...]
    max_share: float
    reached_bad: int
    total: int
    failed: int
    last_bad_end: float | None
    clean_after_s: float
    end: float
    edge: int = 0  # requests in slices (windows) cut by the release start or the end
    sliced: bool = False  # the last request to the version is placed in a 25 ms slice
    last_bad_start: float | None = None  # the last request to the version came after this
    first_clean_end: float | None = None  # ... and the next request with traffic by this
    served_at_end: bool = False  # the last window with traffic had requests to the version
    full_from: float | None = None  # start of the first window at full share
    only_from: float | None = None  # from here on every request went to the version

    @property
    def rolled_back(self) -> bool:
        """Bad-version traffic stopped and at least 2 s of later traffic show none."""
        return self.last_bad_end is not None and self.clean_after_s >= CLEAN_AFTER_ROLLBACK_S - EPS

    @property
    def reached_full(self) -> bool:
        """Some window had at least FULL_ROLLOUT_SHARE of its requests on the version."""
        return self.max_share >= FULL_ROLLOUT_SHARE

    @property
    def promoted(self) -> bool:
        """Reached 100% of traffic and still served at the end of observation."""
        return self.reached_full and self.served_at_end

    def rollback_bracket(self) -> tuple[float, float] | None:
        """(lo, hi): the version left between its last request and the next one after it.

        None unless that last request is placed in a slice and traffic followed it.
        """
        if not self.sliced or self.last_bad_start is None or self.first_clean_end is None:
            return None
        return self.last_bad_start, self.first_clean_end


def _version_and_expect(event: Event, faults: Sequence[AnyFault]) -> tuple[str | None, bool]:
    fault = fault_named(event.name, faults)
    version = event.detail.get("version")
    if not isinstance(version, str):
        version = fault.version if isinstance(fault, GrayReleaseFault) else None
    expect = event.detail.get("expect_rollback")
    if not isinstance(expect, bool):
        expect = fault.expect_rollback if isinstance(fault, GrayReleaseFault) else True
    return version, expect


def _clean_after(windows: Sequence[TrafficWindow], last: Cell) -> float:
    # windows with traffic after the one holding the last bad request count whole; the
    # part of that one after its last bad slice counts too
    clean = 0.0
    for i, w in enumerate(windows):
        if w.count <= 0 or i < last.window:
            continue
        if i > last.window:
            clean += w.window
        elif last.sliced:
            clean += max(0.0, w.t_mono - last.b)
    return clean


def release_of(timeline: Timeline, event: Event, faults: Sequence[AnyFault]) -> GrayRelease | None:
    """The traffic picture of the gray release injected by `event` (None without a version)."""
    version, expect = _version_and_expect(event, faults)
    if version is None:
        return None
    end = observation_end(timeline)
    revert = revert_of(timeline, event)
    if revert is not None and revert.t < end:
        end = max(revert.t, event.t)
    windows = aggregate_windows(timeline, event.t, end)
    shares = [(version_count(w, version) / w.count, w) for w in windows if w.count]
    every = [c for c in cells(windows, version) if c.b > event.t + EPS and c.a < end - EPS]
    counted = count_between(every, event.t, end)
    bad = [i for i, c in enumerate(every) if c.version > 0]
    last = every[bad[-1]] if bad else None
    after = every[bad[-1] + 1] if bad and bad[-1] + 1 < len(every) else None
    only_from = None
    for c in reversed(every):
        if c.version < c.count:
            break
        only_from = c.a
    served = [w for w in windows if w.count]
    return GrayRelease(
        fault=event.name,
        version=version,
        t_release=event.t,
        expect_rollback=expect,
        windows=tuple(windows),
        max_share=max((s for s, _ in shares), default=0.0),
        reached_bad=counted.version,
        total=counted.total,
        failed=counted.failed,
        last_bad_end=None if last is None else last.b,
        clean_after_s=0.0 if last is None else _clean_after(windows, last),
        end=end,
        edge=counted.edge,
        sliced=last is not None and last.sliced,
        last_bad_start=None if last is None else last.a,
        first_clean_end=None if after is None else after.b,
        served_at_end=bool(served) and version_count(served[-1], version) > 0,
        full_from=next((w.t_start for s, w in shares if s >= FULL_ROLLOUT_SHARE), None),
        only_from=only_from,
    )


def gray_releases(timeline: Timeline, faults: Sequence[AnyFault]) -> list[GrayRelease]:
    """Every injected gray release's traffic picture, in injection order."""
    out: list[GrayRelease] = []
    for event in injections(timeline):
        if fault_action(event, faults) == "gray-release":
            rel = release_of(timeline, event, faults)
            if rel is not None:
                out.append(rel)
    return out


def gray_release(timeline: Timeline, faults: Sequence[AnyFault]) -> GrayRelease | None:
    """The first gray release's traffic picture, or None when there was none."""
    releases = gray_releases(timeline, faults)
    return releases[0] if releases else None


def rollback_time(timeline: Timeline, faults: Sequence[AnyFault], bound: float) -> ObjectiveResult:
    """When users stopped reaching the version − release start, once it stays at zero.

    With slices: the midpoint of (start of the last bad request's slice, end of the next
    slice with traffic) ± half that span; else the end of the last window with bad-version
    traffic ± 1 s.
    """
    text = f"≤ {format_duration(bound)}"
    rel = gray_release(timeline, faults)
    if rel is None:
        return unmeasured("rollback_time", text, "s", "no gray release in the timeline")
    detail: dict[str, Any] = {
        "version": rel.version,
        "released_at": rel.t_release,
        "max_canary_share": rel.max_share,
        "requests_to_version": rel.reached_bad,
        "last_seen_at": rel.last_bad_end,
        "clean_traffic_after_s": rel.clean_after_s,
    }
    if rel.last_bad_end is None:
        return unmeasured(
            "rollback_time",
            text,
            "s",
            f"no request reached {rel.version}: nothing to measure",
            **detail,
        )
    if not rel.rolled_back:
        if not rel.expect_rollback or rel.reached_full:
            why = "no rollback happened" + (
                f" ({rel.version} reached 100% of traffic)" if rel.reached_full else ""
            )
        else:
            why = f"never rolled back: users still served by {rel.version}"
        return unmeasured("rollback_time", text, "s", why, **detail)
    bracket = rel.rollback_bracket()
    if bracket is None:
        return at_most(
            "rollback_time",
            rel.last_bad_end - rel.t_release,
            1.0,  # one traffic window: the version may have left at any time in its last second
            bound,
            "s",
            "rolled back after",
            **detail,
        )
    lo, hi = bracket
    detail["rollback_between"] = [lo, hi]
    detail["method"] = (
        "between the start of the 25 ms slice of the last request served by the version and "
        "the end of the next slice with traffic: their midpoint ± half their distance"
    )
    return at_most(
        "rollback_time",
        (lo + hi) / 2.0 - rel.t_release,
        (hi - lo) / 2.0,
        bound,
        "s",
        "rolled back after",
        **detail,
    )


def blast_radius(timeline: Timeline, faults: Sequence[AnyFault], maximum: float) -> ObjectiveResult:
    """(failed + served by the bad version) / total since release: an upper bound."""
    text = f"≤ {format_percent(maximum)}"
    rel = gray_release(timeline, faults)
    if rel is None:
        return unmeasured("blast_radius", text, "ratio", "no gray release in the timeline")
    if not rel.total:
        return unmeasured(
            "blast_radius", text, "ratio", "no traffic data after the release started"
        )
    value = min(1.0, (rel.failed + rel.reached_bad) / rel.total)
    passed = value <= maximum + EPS
    detail: dict[str, Any] = {
        "version": rel.version,
        "requests": rel.total,
        "failed": rel.failed,
        "served_by_version": rel.reached_bad,
        "max_canary_share": rel.max_share,
        "method": "upper bound: per-second windows do not cross-tabulate failures by "
        "version, so a failed request served by the bad version may be counted twice",
    }
    if any(w.slices is not None for w in rel.windows):
        detail["edge_requests"] = rel.edge
    return ObjectiveResult(
        "blast_radius",
        text,
        value,
        rel.edge / rel.total,
        "ratio",
        passed,
        f"at most {format_percent(value)} of {rel.total} requests failed or reached "
        f"{rel.version}, {'within' if passed else 'over'} the objective {format_percent(maximum)}",
        detail,
    )


# --------------------------------------------------------------------------- outcome


def _outcome_detail(rel: GrayRelease) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "fault": rel.fault,
        "version": rel.version,
        "expect_rollback": rel.expect_rollback,
        "released_at": rel.t_release,
        "observed_until": rel.end,
        "max_canary_share": rel.max_share,
        "requests": rel.total,
        "requests_to_version": rel.reached_bad,
    }
    if rel.rolled_back:
        detail["outcome"] = "rolled back"
        bracket = rel.rollback_bracket()
        if bracket is not None:
            detail["stopped_between"] = [bracket[0], bracket[1]]
        detail["last_seen_at"] = rel.last_bad_end
    elif rel.promoted:
        detail["outcome"] = "promoted"
        detail["full_share_from"] = rel.full_from
        detail["only_version_from"] = rel.only_from
    else:
        detail["outcome"] = "unfinished"
        detail["last_seen_at"] = rel.last_bad_end
    return detail


def _stopped_text(rel: GrayRelease) -> str:
    bracket = rel.rollback_bracket()
    if bracket is not None:
        lo, hi = bracket
        mid = (lo + hi) / 2.0 - rel.t_release
        return f"{format_duration(round(mid, 3))} (±{format_duration(round((hi - lo) / 2, 3))})"
    assert rel.last_bad_end is not None
    return f"{format_duration(round(rel.last_bad_end - rel.t_release, 3))} (±1s)"


def _judge(rel: GrayRelease, name: str, text: str) -> ObjectiveResult:
    detail = _outcome_detail(rel)
    v, share = rel.version, format_percent(rel.max_share)
    if not rel.total:
        why = f"no traffic after {v} was released: nothing shows what users got"
        return not_judged(name, text, "ratio", why, **detail)
    if not rel.reached_bad:
        return not_judged(
            name,
            text,
            "ratio",
            f"no request reached {v} within observation: the release never reached users, "
            "so it neither rolled back nor was promoted",
            **detail,
        )
    if rel.rolled_back:
        passed = rel.expect_rollback
        reason = (
            f"{v} was rolled back: users stopped reaching it {_stopped_text(rel)} after the "
            f"release started, having reached {share} of traffic ({rel.reached_bad} requests)"
        )
        if not passed:
            reason += "; the drill expected it promoted to 100% (expect_rollback: false)"
    elif rel.promoted:
        passed = not rel.expect_rollback
        reason = (
            f"{v} was promoted: it reached {share} of traffic and users still reached it at "
            f"the end of observation ({rel.reached_bad} requests)"
        )
        if not passed:
            reason = f"{v} was never rolled back: " + reason[len(f"{v} was promoted: ") :]
            reason += "; the drill expected it rolled back (expect_rollback: true)"
    else:
        served = "still served" if rel.served_at_end else "not served in the last second"
        return not_judged(
            name,
            text,
            "ratio",
            f"the release of {v} never finished within observation: neither rolled back "
            f"(2s of clean traffic after its last request) nor promoted to 100% and still "
            f"served; it reached {share} of traffic at most and was {served} at the end",
            **detail,
        )
    detail["observed"] = "rolled back" if rel.rolled_back else "promoted"
    return ObjectiveResult(name, text, rel.max_share, None, "ratio", passed, reason, detail)


def release_outcome(timeline: Timeline, faults: Sequence[AnyFault]) -> list[ObjectiveResult]:
    """One result per gray-release fault of the scenario: did it end as the drill expects?

    `expect_rollback: true` must end rolled back (users stopped reaching the version, then
    CLEAN_AFTER_ROLLBACK_S of clean traffic); `false` must end promoted (a window at
    FULL_ROLLOUT_SHARE or more, and the version still served at the end of observation).
    The opposite is missed; a release that never finished, or had no traffic, is not judged.
    """
    out: list[ObjectiveResult] = []
    releases = [f for f in faults if isinstance(f, GrayReleaseFault)]
    events = injections(timeline)
    for n, fault in enumerate(releases):
        label = fault.label()
        name = OUTCOME if n == 0 else f"{OUTCOME} ({label})"
        text = "rolled back" if fault.expect_rollback else "promoted to 100%"
        event = next((e for e in events if e.name == label), None)
        rel = None if event is None else release_of(timeline, event, faults)
        if rel is None:
            out.append(
                not_judged(
                    name,
                    text,
                    "ratio",
                    f"{label} was never injected: the drill stopped before releasing "
                    f"{fault.version}",
                    fault=label,
                    version=fault.version,
                )
            )
            continue
        text = "rolled back" if rel.expect_rollback else "promoted to 100%"
        out.append(_judge(rel, name, text))
    return out


# --------------------------------------------------------------------------- live


def _settled_since(traffic: Sequence[TrafficWindow], t_release: float, version: str) -> bool:
    # newest first; stops at the newest window with requests to the version, so after a
    # rollback it reads only the windows since, and while the version is served only one
    clean = 0.0
    newest_with_traffic = True
    for w in reversed(traffic):
        if w.t_mono <= t_release + EPS:
            return False  # no request has reached the version (yet)
        if not w.is_aggregate or not w.count:
            continue
        bad = version_count(w, version)
        if not bad:
            clean += w.window
            newest_with_traffic = False
            if clean >= CLEAN_AFTER_ROLLBACK_S - EPS:
                break  # rolled back, if the version was ever served
            continue
        if newest_with_traffic:
            return bad / w.count >= FULL_ROLLOUT_SHARE  # promoted and still served
        last = [c for c in cells([w], version) if c.version > 0][-1]
        if last.sliced:
            clean += max(0.0, w.t_mono - last.b)
        return clean >= CLEAN_AFTER_ROLLBACK_S - EPS
    else:
        return False
    # enough clean traffic at the end: settled if the version was served before it
    for w in reversed(traffic):
        if w.t_mono <= t_release + EPS:
            return False
        if w.is_aggregate and version_count(w, version) > 0:
            return True
    return False


def release_settled(timeline: Timeline, faults: Sequence[AnyFault]) -> bool:
    """True when every gray release injected so far has finished, as far as traffic shows.

    Finished: rolled back (CLEAN_AFTER_ROLLBACK_S of clean traffic after the version's last
    request) or promoted (the newest window with traffic at FULL_ROLLOUT_SHARE or more). A
    release the drill already reverted counts as finished. Cheap enough to call every
    200 ms: it reads the traffic newest first and stops at the version's last request.
    """
    for event in injections(timeline):
        if fault_action(event, faults) != "gray-release":
            continue
        version, _ = _version_and_expect(event, faults)
        if version is None or revert_of(timeline, event) is not None:
            continue
        if not _settled_since(timeline.traffic, event.t, version):
            return False
    return True
