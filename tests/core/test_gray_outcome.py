"""Every gray release is judged on how it ended; rollback time from per-slice request times."""

from __future__ import annotations

import random
import time
from dataclasses import replace

import pytest

from gameday.analysis.objectives import evaluate_objectives, rollback_time
from gameday.analysis.objectives.gray_release import (
    CLEAN_AFTER_ROLLBACK_S,
    release_outcome,
    release_settled,
)
from gameday.analysis.timeline import Timeline
from gameday.scenarios.model import GrayReleaseFault, Objectives

from .synth import T0, fault, phases, timeline
from .test_availability_edges import Request, steady_requests, unsliced, windows_from

BAD = GrayReleaseFault(action="gray-release", version="v2", name="release")
GOOD = BAD.model_copy(update={"expect_rollback": False})
RELEASE = T0 + 10.0
STEPS = ((0.05, 0.0), (0.2, 5.0), (0.5, 10.0), (1.0, 15.0))  # (share, seconds after release)


def share_at(t: float) -> float:
    if t <= RELEASE:
        return 0.0
    return max(share for share, after in STEPS if t > RELEASE + after)


def released(
    until: float | None = None,
    promote_at: float | None = None,
    end: float = T0 + 40,
    revert: float | None = None,
    requests: list[Request] | None = None,
) -> Timeline:
    """Canary steps from RELEASE; v2 leaves at `until`, or everyone moves to it at `promote_at`."""
    rng = random.Random(1)
    reqs = []
    for t, ok, served in requests or steady_requests(T0, end, rate=60.0):
        if promote_at is not None and t > promote_at:
            served = "api-a/v2"
        elif (until is None or t <= until) and rng.random() < share_at(t):
            served = "api-canary/v2"
        reqs.append((t, ok, served))
    tl = timeline()
    phases(tl, baseline=T0, inject=RELEASE, verify=end)
    fault(tl, "release", RELEASE, until=revert, action="gray-release", version="v2")
    for w in windows_from(reqs, T0, end):
        tl.add_traffic(w)
    return tl


def outcome(tl: Timeline, spec: GrayReleaseFault):  # type: ignore[no-untyped-def]
    (r,) = release_outcome(tl, [spec])
    assert r.name == "release_outcome"
    return r


def test_rolled_back_as_expected_is_met() -> None:
    r = outcome(released(until=RELEASE + 7.3), BAD)
    assert r.outcome == "met" and r.reason.startswith("v2 was rolled back")
    assert r.detail["outcome"] == "rolled back" and r.detail["requests_to_version"] > 0
    lo, hi = r.detail["stopped_between"]
    assert lo < RELEASE + 7.3 <= hi + 1e-9 and hi - lo <= 0.1


def test_expected_promotion_but_rolled_back_is_missed() -> None:
    r = outcome(released(until=RELEASE + 7.3), GOOD)
    assert r.outcome == "missed" and r.missed
    assert "expected it promoted" in r.reason and r.bound_text == "promoted to 100%"


def test_promoted_as_expected_is_met() -> None:
    r = outcome(released(promote_at=RELEASE + 20.0), GOOD)
    assert r.outcome == "met" and r.reason.startswith("v2 was promoted")
    assert r.measured == 1.0
    # the 100% step sends everyone to the canary: users see only v2 from then on
    assert r.detail["only_version_from"] == pytest.approx(RELEASE + 15.0, abs=0.05)
    assert r.detail["full_share_from"] is not None


def test_promoted_when_rollback_expected_is_missed() -> None:
    r = outcome(released(promote_at=RELEASE + 20.0), BAD)
    assert r.outcome == "missed" and r.reason.startswith("v2 was never rolled back")
    assert "expected it rolled back" in r.reason


def test_never_finished_is_not_judged() -> None:
    tl = released(end=RELEASE + 12.0)  # still at 50% when observation ends
    for spec in (BAD, GOOD):
        r = outcome(tl, spec)
        assert r.outcome == "not judged" and not r.missed
        assert "never finished within observation" in r.reason
        assert r.detail["outcome"] == "unfinished"


def test_rolled_back_needs_clean_traffic_after() -> None:
    until = RELEASE + 7.3
    # observation ends just short of 2 s of clean traffic after the last bad request
    assert outcome(released(until=until, end=until + 1.5), BAD).outcome == "not judged"
    assert outcome(released(until=until, end=until + CLEAN_AFTER_ROLLBACK_S + 1.1), BAD).passed


def test_drill_revert_is_not_a_rollback() -> None:
    # the drill reverts the release at +12 s (while at 50%): users stop seeing v2, but
    # the controller rolled nothing back
    tl = released(until=RELEASE + 12.0, revert=RELEASE + 12.0)
    assert outcome(tl, BAD).outcome == "not judged"
    r = rollback_time(tl, [BAD], 60.0)
    assert not r.passed and r.reason.startswith("never rolled back")


def test_no_traffic_or_no_injection_is_not_judged() -> None:
    tl = released(until=RELEASE + 7.3, requests=[(T0 + 1.0, True, "api-a/v1")])
    r = outcome(tl, BAD)
    assert r.outcome == "not judged" and "no traffic after v2 was released" in r.reason
    tl = timeline()
    phases(tl, inject=T0 + 10, verify=T0 + 20)
    r = outcome(tl, BAD)
    assert r.outcome == "not judged" and "never injected" in r.reason


def test_outcome_row_is_added_whenever_there_is_a_gray_release() -> None:
    tl = released(until=RELEASE + 7.3)
    none = Objectives().model_copy(update=dict.fromkeys(Objectives.model_fields))
    out = evaluate_objectives(tl, none, stable_for=5.0, faults=[BAD])
    assert [r.name for r in out] == ["release_outcome"] and out[0].outcome == "met"
    assert evaluate_objectives(tl, none, stable_for=5.0, faults=[]) == []


def test_rollback_time_brackets_the_last_bad_request() -> None:
    # the last v2 request completes at +7.313, the next request at +7.339: they lie in the
    # 25 ms slices (7.300, 7.325] and (7.325, 7.350]
    reqs = steady_requests(T0, T0 + 40, rate=20.0)
    reqs = [r for r in reqs if not RELEASE + 7.2 < r[0] < RELEASE + 7.5]
    last_bad = (RELEASE + 7.313, True, "api-canary/v2")
    reqs = sorted([*reqs, last_bad, (RELEASE + 7.339, True, "api-a/v1")])
    tl = released(until=RELEASE + 7.32, requests=reqs)
    r = rollback_time(tl, [BAD], 30.0)
    assert r.passed and r.detail["rollback_between"] == pytest.approx(
        [RELEASE + 7.3, RELEASE + 7.35]
    )
    assert r.measured == pytest.approx(7.325) and r.error == pytest.approx(0.025)
    assert "±25ms" in r.measured_text()
    # reports without slices: the end of the last bad window, ± 1 s, as before
    old = rollback_time(unsliced(tl), [BAD], 30.0)
    assert old.measured == pytest.approx(8.0) and old.error == 1.0
    assert "rollback_between" not in old.detail


def test_release_settled() -> None:
    until = RELEASE + 7.3
    assert release_settled(released(until=until, end=until + 3.0), [BAD])
    assert not release_settled(released(until=until, end=until + 1.5), [BAD])
    assert not release_settled(released(end=RELEASE + 12.0), [BAD])  # still at 50%
    assert release_settled(released(promote_at=RELEASE + 20.0, end=RELEASE + 22.0), [GOOD])
    # the 100% step: full share and served, as the outcome counts it
    assert release_settled(released(end=RELEASE + 17.0), [BAD])
    tl = released(until=RELEASE, end=RELEASE + 12.0)  # nobody reached v2 (yet)
    assert not release_settled(tl, [BAD])
    assert release_settled(released(end=RELEASE + 12, revert=RELEASE + 11), [BAD])
    empty = timeline()
    assert release_settled(empty, [BAD])  # nothing released: nothing to wait for


def test_release_settled_reads_only_recent_windows() -> None:
    # a day of traffic before the release; called every 200 ms, each call must stay cheap
    for tl, settled in (
        (released(until=RELEASE + 7.3, end=RELEASE + 9.5), True),  # rolled back
        (released(end=RELEASE + 14.0), False),  # at 50%
    ):
        day = [w for w in tl.traffic if w.t_mono <= T0 + 1.0]
        before = [replace(w, t_mono=w.t_mono - k) for k in range(86_400, 0, -1) for w in day]
        tl.traffic[:0] = before
        start = time.perf_counter()
        for _ in range(100):
            assert release_settled(tl, [BAD]) is settled
        assert time.perf_counter() - start < 0.5
