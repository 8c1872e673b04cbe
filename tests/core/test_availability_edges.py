"""Availability and blast radius count requests inside the drill window, per 25 ms slice.

The windows here are made by the plugin's own code (`WindowMerger`, `SliceCounts`) from
requests at known times, written as stats-file lines and parsed back, as the engine reads them.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import replace

import pytest

from gameday.analysis.objectives import availability, blast_radius
from gameday.analysis.timeline import Timeline
from gameday.analysis.timeline_json import window_from, window_json
from gameday.reports.model import _result_json, build_report, canon, recompute_objectives
from gameday.reports.sections import TargetInfo
from gameday.scenarios.model import GrayReleaseFault, Scenario
from gameday.traffic.slices import SliceCounts, slice_key, window_key_of_slice
from gameday.traffic.stats import NameStats, Outcome, TrafficWindow, WindowMerger, parse_line

from .synth import T0, fault, phases, timeline
from .test_report_model import SCENARIO

# one completed request: (completion time, succeeded, X-Served-By)
Request = tuple[float, bool, str | None]


def windows_from(requests: Iterable[Request], start: float, end: float) -> list[TrafficWindow]:
    """The stats-file windows the plugin writes for these requests (collected from start to end)."""
    by_key: dict[int, tuple[NameStats, SliceCounts]] = {}
    for t, ok, served in requests:
        sub = slice_key(t)
        stats, slices = by_key.setdefault(window_key_of_slice(sub), (NameStats(), SliceCounts()))
        stats.add(Outcome.OK if ok else Outcome.ERROR_5XX, 10.0, served)
        slices.add(sub, ok, served)
    merger = WindowMerger()
    lines: list[dict] = []
    for key in range(math.ceil(start), math.ceil(end) + 1):
        stats, slices = by_key.get(key, (NameStats(), SliceCounts()))
        w_start, w_end = max(start, key - 1.0), min(float(key), end)
        if w_end <= w_start:
            continue
        merger.add("local", w_start, w_end, {"pay": stats}, 10, slices)
        lines += merger.ready(w_end + 10.0, {"local"})
    lines += merger.drain()
    out = [parse_line(json.dumps(r)) for r in lines]
    return [w for w in out if isinstance(w, TrafficWindow)]


def steady_requests(
    start: float,
    end: float,
    rate: float = 30.0,
    fail: Sequence[tuple[float, float]] = (),
    served: str = "api-a/v1",
    seed: int = 7,
) -> list[Request]:
    """Poisson arrivals at `rate`/s; requests inside a `fail` span [a, b) fail."""
    rng = random.Random(seed)
    out: list[Request] = []
    t = start
    while True:
        t += rng.expovariate(rate)
        if t >= end:
            return out
        out.append((t, not any(a <= t < b for a, b in fail), served))


def drill(requests: list[Request], inject: float, verify: float, end: float) -> Timeline:
    tl = timeline()
    phases(tl, baseline=T0, inject=inject, verify=verify)
    for w in windows_from(requests, T0, end):
        tl.add_traffic(w)
    return tl


def unsliced(tl: Timeline) -> Timeline:
    """The same timeline as a report from before windows carried slices."""
    out = timeline()
    out.events.extend(tl.events)
    for w in tl.traffic:
        out.add_traffic(replace(w, slices=None))
    return out


def test_requests_are_counted_inside_the_window_exactly() -> None:
    # a failure burst just before inject and just after verify: outside the drill window,
    # but inside the 1 s windows its edges cut; drill edges on the 25 ms grid
    fails = [(T0 + 9.3, T0 + 10.25), (T0 + 40.5, T0 + 41.4)]
    reqs = steady_requests(T0, T0 + 50, fail=fails)
    inject, verify = T0 + 10.25, T0 + 40.5
    tl = drill(reqs, inject, verify, T0 + 50)
    inside = [r for r in reqs if inject < r[0] <= verify]
    r = availability(tl, 0.99)
    assert r.detail["requests"] == len(inside)
    assert r.measured == 1.0 and r.error == 0.0 and r.passed
    assert r.detail["edge_requests"] == 0 and "25 ms" in r.detail["method"]
    # whole windows count the failures around the edges: the objective would be missed
    old = availability(unsliced(tl), 0.99)
    assert old.measured is not None and old.measured < 0.99 and not old.passed
    assert "method" not in old.detail


def test_edge_effect_on_a_30s_drill_is_below_half_a_point() -> None:
    # 10 users at ~30 req/s, a 30 s drill window with edges anywhere in a slice; failures
    # for 8 s in the middle
    reqs = steady_requests(T0, T0 + 60, rate=30.0, fail=[(T0 + 15, T0 + 23)], seed=11)
    inject, verify = T0 + 10.0037, T0 + 40.0261
    tl = drill(reqs, inject, verify, T0 + 60)
    inside = [ok for t, ok, _ in reqs if inject < t <= verify]
    exact = sum(inside) / len(inside)
    r = availability(tl, 0.5)
    assert r.measured is not None and r.error is not None
    assert r.error <= 0.005  # ≤ 0.5 percentage points
    assert abs(r.measured - exact) <= r.error
    assert r.detail["edge_requests"] >= 1  # the edges really cut slices here
    old = availability(unsliced(tl), 0.5)
    assert old.error is not None and old.error > 0.05  # whole edge windows: ~6 %


def test_late_requests_are_in_the_error() -> None:
    reqs = steady_requests(T0, T0 + 30)
    tl = drill(reqs, T0 + 10.0, T0 + 20.0, T0 + 30)
    # 5 requests of an earlier second folded into a window inside the drill (late)
    i = next(i for i, w in enumerate(tl.traffic) if w.is_aggregate and w.t_mono == T0 + 15)
    w = tl.traffic[i]
    tl.traffic[i] = replace(w, count=w.count + 5, ok=w.ok + 5, late=5)
    r = availability(tl, 0.9)
    assert r.detail["edge_requests"] == 5
    assert r.error == pytest.approx(5 / r.detail["requests"])


def test_old_windows_evaluate_as_before() -> None:
    reqs = steady_requests(T0, T0 + 30, fail=[(T0 + 12, T0 + 13)])
    tl = unsliced(drill(reqs, T0 + 10.5, T0 + 20.5, T0 + 30))
    windows = [w for w in tl.traffic if w.is_aggregate and w.t_mono > T0 + 10.5]
    windows = [w for w in windows if w.t_start < T0 + 20.5]
    total = sum(w.count for w in windows)
    r = availability(tl, 0.9)
    assert r.detail["requests"] == total and r.measured == sum(w.ok for w in windows) / total
    edge = [w for w in windows if w.t_start < T0 + 10.5 or w.t_mono > T0 + 20.5]
    assert r.error == sum(w.count for w in edge) / total


def test_blast_radius_counts_from_the_release() -> None:
    release = T0 + 10.3
    reqs = steady_requests(T0, T0 + 40, fail=[(T0 + 9.5, T0 + 10.3)])
    # the canary serves 10% from the release to T0+20.2
    rng = random.Random(3)
    reqs = [
        (t, ok, "api-canary/v2-faulty" if release < t < T0 + 20.2 and rng.random() < 0.1 else s)
        for t, ok, s in reqs
    ]
    tl = drill(reqs, release, T0 + 40, T0 + 40)
    fault(tl, "release", release, action="gray-release", version="v2-faulty")
    rel = GrayReleaseFault(action="gray-release", version="v2-faulty", name="release")
    after = [(ok, s) for t, ok, s in reqs if release < t <= T0 + 40]
    bad = sum(1 for ok, s in after if not ok or s == "api-canary/v2-faulty")
    r = blast_radius(tl, [rel], 0.2)
    assert r.detail["failed"] == 0  # the failures before the release are not counted
    assert r.measured == pytest.approx(bad / len(after))
    assert r.error == 0.0 and r.detail["edge_requests"] == 0
    assert blast_radius(unsliced(tl), [rel], 0.2).detail["failed"] > 0


def test_slices_survive_report_json() -> None:
    reqs = steady_requests(T0, T0 + 5, fail=[(T0 + 1, T0 + 2)])
    reqs += [(T0 + 2.5, True, "api-canary/v2")]
    for w in windows_from(reqs, T0 + 0.3, T0 + 4.7):
        assert window_from(json.loads(json.dumps(window_json(w)))) == w
        if w.is_aggregate and w.count:
            assert w.slices is not None and w.slices.total() == w.count


def test_recompute_from_json_is_bit_identical() -> None:
    scenario = Scenario.model_validate(SCENARIO)
    s = T0 + 0.1234567  # an awkward start: relative times are rounded to µs
    tl = timeline(start=s)
    phases(tl, baseline=s, inject=s + 10, verify=s + 40.3)
    fault(tl, "gray-release-api@v2-faulty", s + 13.0, action="gray-release", version="v2-faulty")
    rng = random.Random(5)
    reqs = [
        (t, ok, "api-canary/v2-faulty" if s + 14 < t < s + 19.13 and rng.random() < 0.2 else sv)
        for t, ok, sv in steady_requests(s, s + 45, 100.0, fail=[(s + 11.11, s + 21.7)])
    ]
    for w in windows_from(reqs, s, s + 45):
        tl.add_traffic(w)
    report = build_report(
        tl,
        scenario,
        run_id="r",
        target=TargetInfo("sandbox", {}),
        operator="o",
        ended=s + 46,
        scenario_path="s.yaml",
        scenario_sha256="ab" * 32,
        plans={},
    )
    data = json.loads(json.dumps(report.to_json()))
    assert any("slices" in w for w in data["traffic"])
    again = recompute_objectives(data)
    assert again == list(report.objectives)
    assert [canon(_result_json(r)) for r in again] == data["objectives"]
    by = {o.name: o for o in report.objectives}
    assert by["availability"].detail["edge_requests"] > 0  # the edges cut slices
    assert by["availability"].error < 0.005
    assert "rollback_between" in by["rollback_time"].detail
    assert by["release_outcome"].outcome == "met"
