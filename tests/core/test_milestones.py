"""Milestones and the steady-state tracker, on synthetic timelines."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gameday.analysis.milestones import (
    DETECTED,
    FAILOVER_COMPLETED,
    IMPACT_STARTED,
    RECOVERED,
    SteadyTracker,
    derive_milestones,
    holds_for,
    impact_started,
    recovered,
    recovery,
    steady_since,
)
from gameday.analysis.timeline import ALERT, MANUAL, Sample

from .synth import T0, fault, probe, timeline, traffic, window


@settings(max_examples=300, deadline=None)
@given(
    every=st.sampled_from([0.1, 0.25, 0.5, 1.0, 2.0, 5.0]),
    phase=st.floats(0.0, 0.99),
    outage_start=st.floats(5.0, 50.0),
    outage_len=st.floats(0.0, 120.0),
    stable_for=st.sampled_from([0.0, 1.0, 5.0, 10.0, 30.0]),
)
def test_recovery_bound_is_half_the_bracket_with_the_truth_inside(
    every: float, phase: float, outage_start: float, outage_len: float, stable_for: float
) -> None:
    tl = timeline()
    a, b = T0 + outage_start, T0 + outage_start + outage_len
    end = b + stable_for + 3 * every + 1
    samples = probe(tl, "api", every, T0, end, fail=[(a, b)], phase=phase * every)
    t_inj = a  # the fault bites at once: samples from a on fail
    fault(tl, "crash-db", t_inj)
    rec = recovered(tl, t_inj, stable_for)
    assert rec is not None
    failing = [s for s in samples if not s.ok]
    if failing:
        # bracket: the last failing send … the first passing answer (latency 10 ms)
        last_fail = failing[-1]
        first_pass = min((s for s in samples if s.ok and s.t > last_fail.t), key=lambda s: s.t)
        lo, hi = last_fail.t, first_pass.t + 0.01
        assert rec.detail["bracket"] == [lo, hi]
        assert rec.t == pytest.approx((lo + hi) / 2)
        assert rec.bound == pytest.approx((hi - lo) / 2)
        assert rec.bound == pytest.approx((every + 0.01) / 2)  # half an interval, not one
        assert rec.t - rec.bound - 1e-9 <= b <= rec.t + rec.bound + 1e-9  # the truth inside
        imp = impact_started(tl, t_inj)
        assert imp is not None
        assert imp.detail["bracket"] == [t_inj, failing[0].t + 0.01]
        assert imp.t - imp.bound - 1e-9 <= a <= imp.t + imp.bound + 1e-9
        assert rec.detail["confirmed_at"] >= rec.detail["window_start"] + stable_for - 1e-9
    else:
        # no impact observed: nothing recovered; the milestone says so and sits at injection
        assert rec.detail["impacted"] is False and rec.t == t_inj and rec.bound == 0.0


def test_no_impact_is_no_recovery() -> None:
    tl = timeline()
    probe(tl, "api", 0.5, T0, T0 + 60)
    fault(tl, "crash-db", T0 + 20.2)
    ms = derive_milestones(tl, stable_for=10)
    assert ms.impact is None and not ms.impacted and ms.observed
    assert ms.recovered is not None and ms.recovered.t == T0 + 20.2 and ms.recovered.bound == 0
    assert ms.recovered.detail["impacted"] is False
    assert ms.recovered.detail["window_start"] == T0 + 20.5
    assert ms.failover is not None  # never reverted: the fault was in force throughout


def test_never_recovers() -> None:
    tl = timeline()
    probe(tl, "api", 0.5, T0, T0 + 60, fail=[(T0 + 20, T0 + 100)])
    fault(tl, "crash-db", T0 + 20)
    ms = derive_milestones(tl, stable_for=5)
    assert ms.impact is not None and ms.impact.detail["bracket"] == [T0 + 20, T0 + 20.01]
    assert ms.recovered is None and ms.failover is None and ms.impacted


def test_recovery_needs_the_full_window_before_the_end() -> None:
    tl = timeline()
    probe(tl, "api", 1.0, T0, T0 + 30, fail=[(T0 + 10, T0 + 25)])
    fault(tl, "crash-db", T0 + 10)
    # passing from 25 to 29 only: a 10 s window never completes
    assert recovered(tl, T0 + 10, 10) is None
    assert recovered(tl, T0 + 10, 4) is not None


def test_flapping_recovers_only_after_the_last_impact() -> None:
    tl = timeline()
    fail = [(T0 + 10, T0 + 12), (T0 + 14, T0 + 15), (T0 + 19, T0 + 19.5)]
    probe(tl, "api", 0.5, T0, T0 + 60, fail=fail)
    fault(tl, "crash-db", T0 + 10)
    # whatever stable_for, the recovery follows the last failure (19.0 … 19.51)
    for stable_for, relapses in [(5, []), (3, [(15, 19)]), (1, [(12, 14), (15, 19)])]:
        rec = recovery(tl, T0 + 10, stable_for)
        assert rec.milestone is not None
        assert rec.milestone.detail["bracket"] == [T0 + 19, T0 + 19.51]
        assert rec.last_impact == T0 + 19
        # (the old rule said 15 for 3 s and 12 for 1 s: recoveries an impact followed)
        assert [(r.recovered_at - T0, r.impact_at - T0) for r in rec.relapses] == relapses


def test_multiple_probes_different_intervals() -> None:
    tl = timeline()
    probe(tl, "fast", 0.5, T0, T0 + 80, fail=[(T0 + 10, T0 + 20)])
    probe(tl, "slow", 2.0, T0, T0 + 80, fail=[(T0 + 10, T0 + 25)])
    fault(tl, "cut", T0 + 10)
    rec = recovered(tl, T0 + 10, 10)
    assert rec is not None
    # slow's last failure is sent at 24, its first pass answered at 26.01: the bracket;
    # fast's recovery (19.5 … 20.01) lies inside it, the slow probe decided it
    assert rec.detail["bracket"] == [T0 + 24, T0 + 26.01]
    assert rec.detail["decided_by"] == "slow" and rec.detail["last_failure_by"] == "slow"
    assert rec.t == pytest.approx(T0 + 25.005) and rec.bound == pytest.approx(1.005)
    assert rec.detail["window_start"] == T0 + 24.5  # fast's pass opens the stable window


def test_evidence_probes_are_not_judged() -> None:
    tl = timeline()
    probe(tl, "api", 0.5, T0, T0 + 60, fail=[(T0 + 10, T0 + 15)])
    probe(tl, "ledger", 0.5, T0, T0 + 60, fail=[(T0 + 10, T0 + 50)], role="evidence")
    fault(tl, "crash-db", T0 + 10)
    assert recovered(tl, T0 + 10, 5).detail["bracket"] == [T0 + 14.5, T0 + 15.01]  # type: ignore[union-attr]


def test_every_probe_must_be_seen_in_the_window() -> None:
    tl = timeline()
    probe(tl, "fast", 0.5, T0, T0 + 60, fail=[(T0 + 10, T0 + 15)])
    probe(tl, "rare", 20.0, T0, T0 + 60)  # samples at 0, 20, 40
    fault(tl, "crash", T0 + 10)
    rec = recovered(tl, T0 + 10, 1.0)
    assert rec is not None and rec.detail["bracket"] == [T0 + 14.5, T0 + 15.01]
    assert rec.detail["confirmed_at"] == T0 + 20  # waits for the rare probe's sample


def test_failover_vs_recovery_after_revert() -> None:
    tl = timeline()
    probe(tl, "api", 0.5, T0, T0 + 80, fail=[(T0 + 10, T0 + 20)])
    fault(tl, "crash-db", T0 + 10, until=T0 + 30)
    ms = derive_milestones(tl, 5)
    assert ms.failover is not None and ms.failover.detail["bracket"] == [T0 + 19.5, T0 + 20.01]
    assert ms.failover.detail["fault_reverted_at"] == T0 + 30

    tl = timeline()
    probe(tl, "api", 0.5, T0, T0 + 80, fail=[(T0 + 10, T0 + 35)])
    fault(tl, "crash-db", T0 + 10, until=T0 + 30)
    ms = derive_milestones(tl, 5)
    assert ms.recovered is not None and ms.recovered.detail["bracket"] == [T0 + 34.5, T0 + 35.01]
    assert ms.failover is None


def test_failover_ignores_reverts_of_earlier_faults() -> None:
    tl = timeline()
    probe(tl, "api", 0.5, T0, T0 + 80, fail=[(T0 + 10, T0 + 20)])
    fault(tl, "crash-db", T0 + 10, until=T0 + 40)
    fault(tl, "cut-site", T0 + 11, until=T0 + 15)
    ms = derive_milestones(tl, 5)
    # cut-site was reverted at 15, before the recovery at 20
    assert ms.failover is None
    assert ms.recovered is not None


def test_detection_ignores_alerts_before_injection_and_resolved_ones() -> None:
    tl = timeline()
    probe(tl, "api", 0.5, T0, T0 + 60)
    tl.add_event(T0 + 5, ALERT, "SuccessRateDrop", status="firing")
    fault(tl, "crash-db", T0 + 10)
    tl.add_event(T0 + 12, ALERT, "SuccessRateDrop", status="resolved")
    assert derive_milestones(tl, 5).detected is None
    tl.add_event(T0 + 17.25, ALERT, "P99High", status="firing")
    det = derive_milestones(tl, 5).detected
    assert det is not None and det.t == T0 + 17.25 and det.bound == 0.01
    assert det.detail["alert"] == "P99High"


def test_fault_and_manual_milestones() -> None:
    tl = timeline()
    probe(tl, "api", 0.5, T0, T0 + 60, fail=[(T0 + 10, T0 + 20)])
    fault(tl, "crash-db", T0 + 10, until=T0 + 40, apply_s=0.3, revert_s=0.7)
    tl.add_event(T0 + 14, MANUAL, "declare-incident", by="alice@host")
    tl.add_event(T0 + 13, ALERT, "DbDown", status="firing")
    ms = derive_milestones(tl, 5)
    names = [m.name for m in ms.all]
    assert names == [
        "fault.injected",
        IMPACT_STARTED,
        DETECTED,
        "manual.declare-incident",
        FAILOVER_COMPLETED,
        RECOVERED,
        "fault.reverted",
    ]
    by = {m.name: m for m in ms.all}
    assert by["fault.injected"].bound == 0.3
    assert by["fault.reverted"].bound == 0.7
    assert by["manual.declare-incident"].detail["by"] == "alice@host"
    assert ms.apply_s() == 0.3


def test_no_fault_no_key_milestones() -> None:
    tl = timeline()
    probe(tl, "api", 0.5, T0, T0 + 60)
    ms = derive_milestones(tl, 5)
    assert ms.t_inj is None and ms.recovered is None and ms.all == ()


def test_traffic_success_counts_as_health() -> None:
    tl = timeline()
    probe(tl, "api", 0.5, T0, T0 + 60)
    traffic(tl, T0, T0 + 60, lambda t: {"ok": 50} if T0 + 10 < t <= T0 + 20 else {})
    fault(tl, "surge", T0 + 10)
    no_traffic = recovered(tl, T0 + 10, 5)
    assert no_traffic is not None and no_traffic.detail["impacted"] is False
    rec = recovered(tl, T0 + 10, 5, min_traffic_success=0.99)
    # the last bad second is [19, 20], the first good one ends at 21: the bracket
    assert rec is not None and rec.detail["bracket"] == [T0 + 19, T0 + 21]
    assert rec.detail["decided_by"] == "traffic:*"
    assert rec.detail["window_start"] == T0 + 20.5  # the stable window starts at a probe sample


def test_empty_traffic_window_is_not_healthy() -> None:
    tl = timeline()
    probe(tl, "api", 0.5, T0, T0 + 60)
    traffic(tl, T0, T0 + 60, lambda t: {"count": 0} if t <= T0 + 30 else {})
    fault(tl, "x", T0 + 10)
    rec = recovered(tl, T0 + 10, 5, min_traffic_success=0.9)
    assert rec is not None and rec.detail["bracket"] == [T0 + 29, T0 + 31]


def test_tracker_live_out_of_order_matches_offline() -> None:
    tl = timeline()
    fast = probe(tl, "fast", 0.5, T0, T0 + 90, fail=[(T0 + 10, T0 + 20), (T0 + 30, T0 + 31)])
    slow = probe(tl, "slow", 3.0, T0, T0 + 90, fail=[(T0 + 10, T0 + 26)], phase=0.2)
    offline = recovered(tl, T0 + 10, 8)
    live = SteadyTracker(["fast", "slow"], 8, after=T0 + 10)
    # the slow probe's answers arrive 2.9 s after they were sent
    arrivals = [(s.t, s) for s in fast] + [(s.t + 2.9, s) for s in slow]
    for _, s in sorted(arrivals, key=lambda p: p[0]):
        live.feed(s)
    live.flush()
    assert offline is not None and live.window is not None
    assert live.window[0] == offline.detail["window_start"]
    assert live.window[1] == offline.detail["confirmed_at"]


def test_tracker_since_and_holds_live() -> None:
    tracker = SteadyTracker(["a", "b"], 2.0)
    assert tracker.since is None and not tracker.holds()
    tracker.feed(Sample("a", 0.0, True))
    assert tracker.since is None  # b has not reported: nothing can be judged yet
    tracker.feed(Sample("b", 0.0, True))
    assert tracker.since == 0.0 and not tracker.holds()
    for i in range(1, 5):
        tracker.feed(Sample("a", i * 0.5, True))
        tracker.feed(Sample("b", i * 0.5, True))
    assert tracker.holds() and tracker.first_window == (0.0, 2.0)
    tracker.feed(Sample("a", 2.5, False))
    tracker.feed(Sample("b", 2.5, True))
    assert tracker.since is None and not tracker.holds()
    assert tracker.last_failure == (2.5, "a")
    tracker.feed(Sample("a", 3.0, True))
    tracker.feed(Sample("b", 3.0, True))
    assert tracker.since == 3.0
    assert tracker.holds(0.0) and not tracker.holds()
    assert tracker.first_window == (0.0, 2.0)  # the first window is kept
    tracker.feed(Sample("other", 3.5, False))  # not a steady probe: ignored
    assert tracker.since == 3.0


def test_tracker_failure_and_pass_at_the_same_instant() -> None:
    tracker = SteadyTracker(["a", "b"], 0.0)
    tracker.feed(Sample("a", 1.0, True))
    tracker.feed(Sample("b", 1.0, False))
    # the failure at 1.0 wins over the pass at the same instant
    assert tracker.since is None


def test_steady_since_and_holds_for() -> None:
    tl = timeline()
    probe(tl, "api", 0.5, T0, T0 + 60, fail=[(T0 + 10, T0 + 20)])
    assert steady_since(tl, T0 + 5) == T0
    assert steady_since(tl, T0 + 15) is None
    assert steady_since(tl, T0 + 25) == T0 + 20
    assert holds_for(tl, T0, 5)
    assert holds_for(tl, T0 + 10, 30)
    assert not holds_for(tl, T0 + 10, 45)


def test_tracker_is_cheap_with_100k_samples() -> None:
    rng = random.Random(7)
    tracker = SteadyTracker(["a", "b", "c", "d"], 10.0)
    started = time.perf_counter()
    for i in range(25_000):
        for name in ("a", "b", "c", "d"):
            tracker.feed(Sample(name, i * 0.1, rng.random() > 0.001))
        if i % 3 == 0:
            _ = tracker.since, tracker.holds()
    assert time.perf_counter() - started < 5.0


@pytest.mark.parametrize("stable_for", [0.0, 2.0])
def test_traffic_window_helper_sanity(stable_for: float) -> None:
    w = window(T0 + 5, count=10, ok=9)
    assert w.success_ratio == 0.9 and w.t_start == T0 + 4
    tracker = SteadyTracker(["a"], stable_for, min_traffic_success=0.95)
    tracker.feed(Sample("a", T0 + 5, True))
    tracker.feed_traffic(w)
    tracker.flush()
    assert tracker.since is None
