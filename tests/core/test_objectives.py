"""Objective evaluation on synthetic timelines: every objective, every way to fail."""

from __future__ import annotations

from typing import Any

import pytest

from gameday.analysis.milestones import derive_milestones
from gameday.analysis.objectives import (
    availability,
    blast_radius,
    breakers_close_within,
    data_loss,
    deviations,
    evaluate_objectives,
    hop_latency,
    overall_verdict,
    p99_after_recovery,
    protected_success,
    rollback_time,
)
from gameday.analysis.timeline import ALERT, LEDGER, ProbeInfo, Timeline
from gameday.analysis.verdict import Verdict
from gameday.scenarios.model import GrayReleaseFault, LoadSurgeFault, Objectives
from gameday.traffic.stats import (
    HIST_MAX_RELATIVE_ERROR,
    NameStats,
    Outcome,
    histogram_percentile,
)

from .synth import T0, fault, phases, probe, timeline, traffic


def outage(fail_until: float = T0 + 40, revert: float | None = T0 + 30) -> Timeline:
    tl = timeline()
    phases(tl, baseline=T0, inject=T0 + 10, verify=T0 + 80)
    probe(tl, "api", 0.25, T0, T0 + 80, fail=[(T0 + 10, fail_until)])
    fault(tl, "crash-db", T0 + 10, until=revert, apply_s=0.1)
    return tl


def objectives(**kw: object) -> Objectives:
    return Objectives.model_validate(kw)


def results(tl: Timeline, stable_for: float = 5.0, faults: tuple = (), **kw: object) -> dict:
    out = evaluate_objectives(tl, objectives(**kw), stable_for=stable_for, faults=list(faults))
    return {r.name: r for r in out}


def test_recovery_time_and_error() -> None:
    r = results(outage(), recovery_time="1m")["recovery_time"]
    # bracket: last failure sent at 39.75, first pass answered at 40.01 (truth: 40)
    assert r.detail["bracket"] == [T0 + 39.75, T0 + 40.01]
    assert r.passed and r.measured == pytest.approx(29.88)
    assert r.error == pytest.approx(0.13 + 0.1)  # half the bracket + apply 0.1
    assert abs(r.measured - 30.0) <= r.error  # the truth inside
    assert r.unit == "s" and r.bound_text == "≤ 1m"
    assert "29.88s" in r.reason


def test_recovery_over_objective_fails() -> None:
    r = results(outage(), recovery_time="20s")["recovery_time"]
    assert not r.passed and r.measured == pytest.approx(29.88)
    assert "over the objective 20s" in r.reason


def test_never_recovered_fails() -> None:
    r = results(outage(fail_until=T0 + 200), recovery_time="15m")
    assert not r["recovery_time"].passed
    assert r["recovery_time"].measured is None
    assert r["recovery_time"].reason == "never recovered within the deadline"


def test_default_objectives_include_recovery() -> None:
    assert list(results(outage())) == ["recovery_time"]


def test_no_fault_fails_with_reason() -> None:
    tl = timeline()
    probe(tl, "api", 0.5, T0, T0 + 30)
    r = results(tl, recovery_time="1m", failover_time="1m", detection_time="1m")
    assert all(not x.passed and x.reason == "no fault was injected" for x in r.values())


def test_failover_time() -> None:
    r = results(outage(fail_until=T0 + 25), failover_time="30s")["failover_time"]
    assert r.passed and r.measured == pytest.approx(14.88)
    r = results(outage(fail_until=T0 + 40), failover_time="1m")["failover_time"]
    assert not r.passed and r.reason == "recovered only after the fault was reverted"


def test_detection_time() -> None:
    tl = outage()
    assert results(tl, detection_time="1m")["detection_time"].reason == "no alert received"
    tl.add_event(T0 + 3, ALERT, "Early", status="firing")
    assert not results(tl, detection_time="1m")["detection_time"].passed
    tl.add_event(T0 + 22.5, ALERT, "SuccessRateDrop", status="firing")
    r = results(tl, detection_time="1m")["detection_time"]
    assert r.passed and r.measured == pytest.approx(12.5)
    assert r.error == pytest.approx(0.11)
    assert not results(tl, detection_time="10s")["detection_time"].passed


def ledger(tl: Timeline, acked: int, missing: list[int]) -> None:
    acks = [[i, T0 + i * 0.5] for i in range(acked)]
    tl.add_event(
        T0 + 85, LEDGER, "ledger", acked=acks, missing=[a for a in acks if a[0] in missing]
    )


def test_data_loss_count_and_span() -> None:
    tl = outage()
    tl.add_probe(ProbeInfo("writes", "ledger", 0.5, "evidence"))
    ledger(tl, 100, [40, 41, 44])
    r = results(tl, data_loss=0)["data_loss"]
    assert not r.passed and r.measured == 3 and r.unit == "count"
    assert r.detail["span_s"] == pytest.approx(2.0)
    assert r.detail["span_error_s"] == 0.5
    assert r.detail["missing_seqs"] == [40, 41, 44]
    assert results(tl, data_loss={"max_writes": 3})["data_loss"].passed
    r = results(tl, data_loss={"max_writes": 3, "max_span": "1s"})["data_loss"]
    assert not r.passed and "span" in r.reason
    assert data_loss(tl, 5, 2.0).passed


def test_data_loss_none_missing_and_no_data() -> None:
    tl = outage()
    # no read-back (the drill stopped before verify): not judged, never "missed"
    none = results(tl, data_loss=0)["data_loss"]
    assert none.outcome == "not judged" and "stopped before" in none.reason
    ledger(tl, 0, [])
    nothing_acked = results(tl, data_loss=0)["data_loss"]
    assert not nothing_acked.passed and nothing_acked.outcome == "not judged"
    tl2 = outage()
    ledger(tl2, 50, [])
    r = results(tl2, data_loss=0)["data_loss"]
    assert r.passed and r.measured == 0 and r.detail["span_s"] == 0


def test_data_loss_is_unknown_when_the_ledger_could_not_be_read_back() -> None:
    tl = outage()
    acks = [[i, T0 + i * 0.5] for i in range(50)]
    tl.add_event(T0 + 85, LEDGER, "ledger", acked=acks, missing=[], error="connection refused")
    r = results(tl, data_loss=0)["data_loss"]
    assert not r.passed and r.measured is None
    assert "unknown" in r.reason and "connection refused" in r.reason


def test_availability_with_edge_windows() -> None:
    tl = timeline()
    phases(tl, inject=T0 + 10.5, verify=T0 + 20.5)
    fault(tl, "x", T0 + 10.5)
    # windows end at T0+1 … T0+30; 100 requests each; 10 failures in (15, 17]
    traffic(tl, T0, T0 + 30, lambda t: {"ok": 90} if T0 + 15 < t <= T0 + 17 else {})
    r = availability(tl, 0.99)
    # overlapping windows: (10,11] … (20,21]: 11 windows, 2 of them partial
    assert r.detail["requests"] == 1100 and r.detail["windows"] == 11
    assert r.measured == pytest.approx(1080 / 1100)
    assert r.error == pytest.approx(200 / 1100)
    assert not r.passed
    assert availability(tl, 0.98).passed


def test_availability_without_traffic_fails() -> None:
    tl = outage()
    r = results(tl, availability="99%")["availability"]
    assert not r.passed and "no traffic" in r.reason


def test_p99_after_recovery() -> None:
    tl = outage(fail_until=T0 + 20, revert=T0 + 30)
    # slow during the outage, 150 ms right after recovery, 40 ms later
    traffic(
        tl,
        T0,
        T0 + 80,
        lambda t: {"p99_ms": 900.0 if t <= T0 + 20 else 150.0 if t <= T0 + 23 else 40.0},
    )
    ms = derive_milestones(tl, 5)
    assert ms.recovered is not None and ms.recovered.detail["bracket"] == [T0 + 19.75, T0 + 20.01]
    r = p99_after_recovery(tl, ms, 0.2)
    assert r.passed and r.measured == pytest.approx(0.15)
    assert r.error == pytest.approx(0.15 * HIST_MAX_RELATIVE_ERROR)
    assert "conservative" in r.detail["method"]
    assert not p99_after_recovery(tl, ms, 0.1).passed


def latencies(ms: list[float]) -> dict[str, Any]:
    """window() kwargs for a window whose requests took these latencies (with its histogram)."""
    stats = NameStats()
    for latency in ms:
        stats.add(Outcome.OK, latency, None)
    return {
        "count": stats.count,
        "ok": stats.count,
        "p99_ms": histogram_percentile(stats.hist, 99.0, stats.max_ms),
        "max_ms": stats.max_ms,
        "hist": dict(stats.hist),
    }


def after_recovery_with_one_slow_second(slow: int) -> Timeline:
    """60 windows of 100 requests at 40 ms after recovery; in one, `slow` of them take 900 ms."""
    tl = outage(fail_until=T0 + 20, revert=T0 + 30)
    traffic(
        tl,
        T0 + 20,
        T0 + 80,
        lambda t: latencies(
            [40.0] * (100 - slow) + [900.0] * slow if t == T0 + 50 else [40.0] * 100
        ),
    )
    return tl


def test_p99_after_recovery_pools_every_request() -> None:
    # that second's own p99 is 900 ms, but its 5 slow requests are 5 of 5,900
    tl = after_recovery_with_one_slow_second(5)
    ms = derive_milestones(tl, 5)
    r = p99_after_recovery(tl, ms, 0.2)
    assert r.passed and r.measured == pytest.approx(0.040, rel=HIST_MAX_RELATIVE_ERROR)
    # only seconds wholly after recovery is certain (the bracket's upper edge, just after
    # T0+20) count: the second starting at T0+20 may hold requests from before it
    assert ms.recovered is not None and ms.recovered.detail["bracket"][1] > T0 + 20
    assert r.detail["requests"] == 5900 and "pooled" in r.detail["method"]
    # 61 slow requests of 6,000 are more than 1 %: the p99 is theirs
    tl = after_recovery_with_one_slow_second(61)
    r = p99_after_recovery(tl, derive_milestones(tl, 5), 0.2)
    assert not r.passed and r.measured == pytest.approx(0.9, rel=HIST_MAX_RELATIVE_ERROR)


def test_p99_without_recovery_fails() -> None:
    tl = outage(fail_until=T0 + 200)
    traffic(tl, T0, T0 + 80)
    r = results(tl, p99_latency="200ms")["p99_latency"]
    assert not r.passed and "never recovered" in r.reason


def gray(served: dict[float, dict[str, int]] | None = None, end: float = T0 + 60) -> Timeline:
    """Release at T0+10; `served` maps window end → served_by counts (else all v1)."""
    tl = timeline()
    phases(tl, inject=T0 + 10, verify=end)
    probe(tl, "api", 0.5, T0, end)
    fault(tl, "release", T0 + 10, action="gray-release", version="v2-faulty")

    def make(t: float) -> dict:
        by = (served or {}).get(round(t - T0, 6), {"api-a/v1": 100})
        bad = by.get("api-canary/v2-faulty", 0)
        return {"served_by": by, "ok": 100 - bad // 2}

    traffic(tl, T0, end, make)
    return tl


RELEASE = GrayReleaseFault(action="gray-release", version="v2-faulty", name="release")


def canary(share: int) -> dict[str, int]:
    return {"api-a/v1": 100 - share, "api-canary/v2-faulty": share}


def test_gray_release_rolled_back() -> None:
    served = {float(t): canary(5) for t in range(12, 16)} | {16.0: canary(20), 17.0: canary(20)}
    tl = gray(served)
    r = rollback_time(tl, [RELEASE], 30.0)
    assert r.passed and r.measured == pytest.approx(7.0)  # last bad window ends at 17
    assert r.detail["max_canary_share"] == pytest.approx(0.2)
    assert r.detail["requests_to_version"] == 4 * 5 + 2 * 20
    assert not rollback_time(tl, [RELEASE], 5.0).passed
    b = blast_radius(tl, [RELEASE], 0.015)
    # failures: half of the bad-version requests (4·2 + 2·10) + bad (60) over 5000 requests
    assert b.measured == pytest.approx((28 + 60) / 5000)
    assert "upper bound" in b.detail["method"]
    assert not b.passed
    assert blast_radius(tl, [RELEASE], 0.05).passed


def test_gray_release_version_from_fault_spec() -> None:
    served = {14.0: canary(5)}
    tl = timeline()
    phases(tl, verify=T0 + 30)
    fault(tl, "release", T0 + 10)  # no action/version in the event: taken from the scenario
    traffic(tl, T0, T0 + 30, lambda t: {"served_by": served.get(round(t - T0, 6), {})})
    r = rollback_time(tl, [RELEASE], 10.0)
    assert r.passed and r.measured == pytest.approx(4.0)


def test_gray_release_never_rolled_back() -> None:
    served = {float(t): canary(20) for t in range(12, 61)}
    r = rollback_time(gray(served), [RELEASE], 30.0)
    assert not r.passed and r.reason == "never rolled back: users still served by v2-faulty"


def test_gray_release_needs_two_clean_seconds() -> None:
    served = {float(t): canary(5) for t in range(12, 60)}  # last bad window ends at 59
    r = rollback_time(gray(served), [RELEASE], 60.0)
    assert not r.passed and r.reason.startswith("never rolled back")
    served = {float(t): canary(5) for t in range(12, 59)}  # clean 58..60
    assert rollback_time(gray(served), [RELEASE], 60.0).passed


def test_healthy_canary_reaches_full_rollout() -> None:
    steps = [(12, 5), (20, 20), (28, 50), (36, 100)]

    def share(t: int) -> int:
        return max(s for start, s in steps if t >= start) if t >= 12 else 0

    served = {float(t): canary(share(t)) for t in range(12, 61)}
    healthy = RELEASE.model_copy(update={"expect_rollback": False})
    r = rollback_time(gray(served), [healthy], 30.0)
    assert not r.passed and r.reason.startswith("no rollback happened")
    assert r.detail["max_canary_share"] == 1.0
    r = rollback_time(gray(served), [RELEASE], 30.0)
    assert r.reason == "no rollback happened (v2-faulty reached 100% of traffic)"


def test_gray_release_missing_data_fails() -> None:
    assert "no request reached" in rollback_time(gray({}), [RELEASE], 30.0).reason
    tl = outage()
    assert rollback_time(tl, [RELEASE], 30.0).reason == "no gray release in the timeline"
    assert not blast_radius(tl, [RELEASE], 0.1).passed


SURGE = LoadSurgeFault(action="load-surge", multiply="10x", name="surge")


def surge_timeline(pay: dict, breaker_until: float = T0 + 33) -> Timeline:
    tl = timeline()
    phases(tl, inject=T0 + 10, verify=T0 + 60)
    probe(tl, "api", 0.5, T0, T0 + 60)
    fault(tl, "surge", T0 + 10, until=T0 + 30)
    traffic(tl, T0, T0 + 60, lambda t: pay if T0 + 10 < t <= T0 + 30 else {}, name="pay")
    traffic(
        tl,
        T0,
        T0 + 60,
        lambda t: {"count": 300, "circuit": 30 if t <= breaker_until else 0, "shed": 50},
    )
    return tl


def test_protected_success_each_budget() -> None:
    tl = surge_timeline({"count": 100, "shed": 2, "circuit": 1, "error_5xx": 1})
    r = protected_success(tl, [SURGE], ["pay"], 0.95, 0.05, 0.02, 0.02)
    assert r.passed and r.measured == pytest.approx(0.96)
    assert [c["check"] for c in r.detail["checks"]] == ["ok", "shed", "5xx", "circuit"]
    assert r.detail["total"] == 2000
    assert not protected_success(tl, [SURGE], ["pay"], 0.97).passed
    r = protected_success(tl, [SURGE], ["pay"], 0.9, max_shed=0.01)
    assert not r.passed and r.reason.startswith("shed 2% over 1%")
    r = protected_success(tl, [SURGE], ["pay"], 0.9, max_5xx=0.005)
    assert not r.passed and r.reason.startswith("5xx")
    r = protected_success(tl, [SURGE], ["pay"], 0.9, max_circuit=0.005, max_5xx=0.005)
    assert [c["check"] for c in r.detail["checks"] if not c["passed"]] == ["5xx", "circuit"]


def test_protected_success_missing_data() -> None:
    tl = surge_timeline({})
    assert "no balance requests" in protected_success(tl, [SURGE], ["balance"], 0.9).reason
    assert "no load surge" in protected_success(outage(), [], ["pay"], 0.9).reason


def test_breakers_close_within() -> None:
    tl = surge_timeline({}, breaker_until=T0 + 33)
    r = breakers_close_within(tl, [SURGE], 5.0)
    assert r.passed and r.measured == pytest.approx(3.0) and r.error == 1.0
    assert not breakers_close_within(tl, [SURGE], 2.0).passed
    r = breakers_close_within(surge_timeline({}, breaker_until=T0 + 20), [SURGE], 5.0)
    assert r.passed and r.measured == 0.0
    r = breakers_close_within(surge_timeline({}, breaker_until=T0 + 100), [SURGE], 5.0)
    assert not r.passed and "still" in r.reason


def test_evaluate_protected_success_from_objectives() -> None:
    tl = surge_timeline({"count": 100, "shed": 2})
    r = results(
        tl,
        faults=(SURGE,),
        recovery_time=None,
        protected_success={"min": "95%", "max_shed": "5%", "breakers_close_within": "5s"},
    )
    assert list(r) == ["protected_success", "breakers_close_within"]
    assert all(x.passed for x in r.values())


def test_verdicts_and_exit_codes() -> None:
    ok = results(outage(), recovery_time="1m")["recovery_time"]
    bad = results(outage(), recovery_time="1s")["recovery_time"]
    assert overall_verdict([ok], False, None) == "passed"
    assert overall_verdict([], False, None) == "passed"
    assert overall_verdict([ok, bad], False, None) == "failed"
    assert overall_verdict([ok], True, None) == "aborted"
    assert overall_verdict([ok], True, "target unreachable") == "error"
    assert [Verdict(v).exit_code for v in ("passed", "failed", "aborted", "error")] == [0, 1, 3, 4]
    assert deviations([ok, bad], "availability below 50% for 30s") == [
        f"recovery_time (≤ 1s): {bad.reason}",
        "aborted: availability below 50% for 30s",
    ]


def test_hop_latency() -> None:
    tl = timeline()

    def hops(t: float) -> dict:
        slow = T0 + 10 <= t < T0 + 30
        db = 0.35 if slow else 0.01
        return {
            "gateway": 0.03 + db + 0.005,
            "upstream": 0.025 + db,
            "api": 0.02 + db,
            "db": db,
            "db_desc": "db-standby" if slow else "db-primary",
        }

    probe(tl, "web", 0.5, T0, T0 + 40, hops=hops, served_by=lambda t: "api-a/v1")
    probe(tl, "tcp", 0.5, T0, T0 + 40, type_="tcp")
    fault(tl, "latency-db", T0 + 10, until=T0 + 30)
    phases(tl, verify=T0 + 40)
    out = hop_latency(tl)
    assert out[0].hop == "api-a->db-standby"
    assert out[0].crossed and out[0].crossed_in == ("latency-db",)
    assert out[0].faults["latency-db"].p99 == pytest.approx(0.35)
    by = {h.hop: h for h in out}
    assert by["api-a->db-primary"].baseline is not None
    assert not by["api-a->db-primary"].crossed
    assert by["gateway->api-a"].baseline.p50 == pytest.approx(0.005)  # type: ignore[union-attr]
    assert by["gateway"].baseline.max == pytest.approx(0.01)  # type: ignore[union-attr]
    assert [h.p99 for h in out] == sorted((h.p99 for h in out), reverse=True)
    assert hop_latency(timeline()) == []


def test_a_hop_slow_only_in_the_baseline_reports_the_baseline_p99() -> None:
    tl = timeline()

    def hops(t: float) -> dict:
        db = 0.3 if t < T0 + 10 else 0.003  # slow before the fault, fast during it
        return {"gateway": db + 0.01, "upstream": db + 0.005, "api": db + 0.002, "db": db}

    probe(tl, "web", 0.5, T0, T0 + 40, hops=hops, served_by=lambda t: "api-a/v1")
    fault(tl, "cut", T0 + 10, until=T0 + 30)
    phases(tl, verify=T0 + 40)
    slow = next(h for h in hop_latency(tl) if h.hop == "api-a->db")
    assert slow.crossed_in == ("baseline",)
    assert slow.p99 == pytest.approx(0.003)  # the fault windows' worst
    assert slow.crossed_p99 == pytest.approx(0.3)  # what the "slow hop" line must print
