"""Unit tests: classification, latency percentiles, window merging, stats-line parsing."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gameday.traffic.slices import (
    SLICE_S,
    SliceCounts,
    WindowSlices,
    slice_key,
    window_key_of_slice,
)
from gameday.traffic.stats import (
    AGGREGATE_NAME,
    HIST_BASE_MS,
    HIST_MAX_RELATIVE_ERROR,
    NameStats,
    Outcome,
    StatsLineError,
    TrafficEvent,
    TrafficWindow,
    WindowMerger,
    bucket_of,
    bucket_value,
    classify,
    encode_lines,
    exact_percentile,
    histogram_percentile,
    merge_histograms,
    parse_line,
    window_record,
)


@pytest.mark.parametrize(
    ("status", "circuit", "failed", "expected"),
    [
        (200, None, False, Outcome.OK),
        (201, None, False, Outcome.OK),
        (302, None, False, Outcome.OK),
        (429, None, True, Outcome.SHED),
        (429, None, False, Outcome.SHED),  # shed even if the locustfile accepted it
        (503, "open", True, Outcome.CIRCUIT),
        (503, " Open ", True, Outcome.CIRCUIT),
        (503, None, True, Outcome.ERROR_5XX),
        (503, "closed", True, Outcome.ERROR_5XX),
        (500, "open", True, Outcome.ERROR_5XX),  # the header only means something on a 503
        (500, None, True, Outcome.ERROR_5XX),
        (504, None, True, Outcome.ERROR_5XX),
        (404, None, True, Outcome.ERROR_OTHER),
        (401, None, True, Outcome.ERROR_OTHER),
        (0, None, True, Outcome.ERROR_OTHER),  # connection refused / timeout in Locust
        (None, None, True, Outcome.ERROR_OTHER),
        (200, None, True, Outcome.ERROR_OTHER),  # failed by catch_response
    ],
)
def test_classify(status: int | None, circuit: str | None, failed: bool, expected: Outcome) -> None:
    assert classify(status, circuit, failed) is expected


def test_exact_percentile_nearest_rank() -> None:
    samples = [float(v) for v in range(1, 101)]
    assert exact_percentile(samples, 50) == 50.0
    assert exact_percentile(samples, 95) == 95.0
    assert exact_percentile(samples, 99) == 99.0
    assert exact_percentile(samples, 100) == 100.0
    assert exact_percentile([7.0], 99) == 7.0
    assert exact_percentile([], 50) is None
    assert exact_percentile([3.0, 1.0, 2.0], 0) == 1.0


@given(st.floats(min_value=0.0, max_value=120_000.0, allow_nan=False))
def test_bucket_contains_value(value: float) -> None:
    b = bucket_of(value)
    if value <= HIST_BASE_MS:
        assert b == 0
    else:
        lower = HIST_BASE_MS * 1.02 ** (b - 1)
        upper = HIST_BASE_MS * 1.02**b
        assert lower * (1 - 1e-9) <= value <= upper * (1 + 1e-9)
        assert abs(bucket_value(b) - value) <= HIST_MAX_RELATIVE_ERROR * value * (1 + 1e-9)


@settings(max_examples=200)
@given(
    st.lists(st.floats(min_value=0.0, max_value=60_000.0, allow_nan=False), min_size=1),
    st.sampled_from([50.0, 95.0, 99.0, 100.0]),
)
def test_histogram_percentile_within_bound(samples: list[float], q: float) -> None:
    stats = NameStats()
    for value in samples:
        stats.add(Outcome.OK, value, None)
    got = histogram_percentile(stats.hist, q, stats.max_ms)
    want = exact_percentile(samples, q)
    assert got is not None and want is not None
    assert abs(got - want) <= max(HIST_MAX_RELATIVE_ERROR * want, HIST_BASE_MS) + 1e-9
    assert got <= max(samples)


def test_histogram_percentile_empty() -> None:
    assert histogram_percentile({}, 50, 0.0) is None


@given(st.lists(st.tuples(st.sampled_from(list(Outcome)), st.floats(0, 5000), st.booleans())))
def test_merge_equals_single_accumulator(rows: list[tuple[Outcome, float, bool]]) -> None:
    whole, left, right = NameStats(), NameStats(), NameStats()
    for i, (outcome, latency, served) in enumerate(rows):
        by = "api-a/v1" if served else None
        whole.add(outcome, latency, by)
        (left if i % 2 else right).add(outcome, latency, by)
    left.merge(NameStats.from_wire(json.loads(json.dumps(right.to_wire()))))
    assert left == whole
    assert left.count == len(rows)


def _stats(*rows: tuple[Outcome, float, str | None]) -> NameStats:
    stats = NameStats()
    for outcome, latency, served in rows:
        stats.add(outcome, latency, served)
    return stats


def test_window_record_fields() -> None:
    stats = _stats(
        (Outcome.OK, 10.0, "api-a/v1"),
        (Outcome.SHED, 2.0, "api-a/v1"),
        (Outcome.CIRCUIT, 1.0, None),
        (Outcome.ERROR_5XX, 30.0, "api-b/v2"),
    )
    rec = window_record(101.0, 1.0, "pay", stats, users=7)
    assert rec["t_mono"] == 101.0 and rec["window"] == 1.0 and rec["name"] == "pay"
    assert (rec["count"], rec["ok"], rec["shed"], rec["circuit"], rec["error_5xx"]) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert rec["error_other"] == 0
    assert rec["served_by"] == {"api-a/v1": 2, "api-b/v2": 1}
    assert rec["max_ms"] == 30.0 and rec["p99_ms"] == 30.0  # clamped to the exact max
    assert rec["users"] == 7 and "late" not in rec


def test_merger_waits_for_every_source_then_emits_in_order() -> None:
    m = WindowMerger(max_lag_s=1.5)
    m.add("w1", 100.0, 101.0, {"pay": _stats((Outcome.OK, 5.0, "a"))}, users=2)
    assert m.ready(101.2, {"w1", "w2"}) == []  # w2 not in yet, lag not over
    m.add("w2", 100.0, 101.0, {"pay": _stats((Outcome.SHED, 7.0, "b"))}, users=3)
    m.add("w1", 101.0, 102.0, {}, users=2)
    out = m.ready(101.3, {"w1", "w2"})
    assert [(r["t_mono"], r["name"]) for r in out] == [(101.0, "pay"), (101.0, AGGREGATE_NAME)]
    agg = out[-1]
    assert agg["count"] == 2 and agg["ok"] == 1 and agg["shed"] == 1 and agg["users"] == 5
    assert agg["served_by"] == {"a": 1, "b": 1}
    # window 102 only has w1: emitted once the lag is over, with an all-zero aggregate
    assert m.ready(102.5, {"w1", "w2"}) == []
    out = m.ready(103.6, {"w1", "w2"})
    assert [(r["t_mono"], r["name"], r["count"]) for r in out] == [(102.0, AGGREGATE_NAME, 0)]
    assert m.total_requests == 2


def test_merger_folds_late_reports_into_next_window() -> None:
    m = WindowMerger()
    m.add("w1", 100.0, 101.0, {"pay": _stats((Outcome.OK, 5.0, None))}, users=1)
    assert len(m.ready(101.1, {"w1"})) == 2
    m.add("w2", 100.0, 101.0, {"pay": _stats((Outcome.OK, 6.0, None))}, users=1)  # too late
    m.add("w1", 101.0, 102.0, {"pay": _stats((Outcome.OK, 5.0, None))}, users=1)
    out = m.ready(102.1, {"w1"})
    agg = out[-1]
    assert agg["t_mono"] == 102.0 and agg["count"] == 2 and agg["late"] == 1
    assert m.total_requests == 3


def test_merger_partial_final_window_and_drain() -> None:
    m = WindowMerger()
    m.add("w1", 100.0, 101.0, {}, users=1)
    m.add("w1", 101.0, 101.4, {"pay": _stats((Outcome.OK, 5.0, None))}, users=1)
    m.add("w2", 101.0, 101.45, {"pay": _stats((Outcome.OK, 5.0, None))}, users=1)
    out = m.drain()
    assert [(r["t_mono"], r["name"]) for r in out] == [
        (101.0, AGGREGATE_NAME),
        (101.45, "pay"),
        (101.45, AGGREGATE_NAME),
    ]
    assert out[-1]["window"] == pytest.approx(0.45)
    assert out[-1]["count"] == 2
    assert m.drain() == []


def test_parse_line_round_trip() -> None:
    stats = _stats((Outcome.OK, 12.5, "api-a/v1"), (Outcome.ERROR_OTHER, 3.0, None))
    line = encode_lines([window_record(55.0, 1.0, "balance", stats, users=3, late=1)])
    assert line.endswith("\n") and line.count("\n") == 1
    w = parse_line(line)
    assert isinstance(w, TrafficWindow)
    assert (w.name, w.count, w.ok, w.error_other, w.users, w.late) == ("balance", 2, 1, 1, 3, 1)
    assert w.served_by == {"api-a/v1": 1}
    assert w.failures == 1 and w.success_ratio == 0.5 and w.t_start == 54.0
    assert w.max_ms == 12.5 and w.p50_ms is not None and math.isclose(w.p50_ms, 3.0, rel_tol=0.011)
    hash(w)  # usable in sets despite the served_by mapping


def test_only_the_aggregate_carries_its_histogram() -> None:
    stats = _stats((Outcome.OK, 12.5, None), (Outcome.OK, 12.6, None), (Outcome.OK, 400.0, None))
    assert "hist" not in window_record(5.0, 1.0, "pay", stats, users=1)
    w = parse_line(encode_lines([window_record(5.0, 1.0, AGGREGATE_NAME, stats, users=1)]))
    assert isinstance(w, TrafficWindow)
    assert w.hist == stats.hist and sum(w.hist.values()) == 3
    merged = merge_histograms([w.hist, w.hist])
    assert merged == {b: 2 * n for b, n in stats.hist.items()}
    hash(w)


def test_parse_empty_window_and_event() -> None:
    w = parse_line(encode_lines([window_record(9.0, 1.0, "*", NameStats(), users=0)]))
    assert isinstance(w, TrafficWindow)
    assert w.count == 0 and w.p99_ms is None and w.max_ms is None and w.success_ratio is None
    e = parse_line('{"event":"stopped","t_mono":12.5,"reason":"max_requests","total_requests":9}')
    assert e == TrafficEvent("stopped", 12.5, {"reason": "max_requests", "total_requests": 9})


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[1, 2]",
        '{"t_mono": 1}',
        '{"t_mono": "x", "window": 1, "name": "a"}',
        '{"t_mono":1,"window":1,"name":"a","count":1,"ok":1,"shed":0,"circuit":0,'
        '"error_5xx":0,"error_other":0,"served_by":[1]}',
        '{"t_mono":1,"window":1,"name":"*","count":1,"ok":1,"shed":0,"circuit":0,'
        '"error_5xx":0,"error_other":0,"hist":[3]}',
    ],
)
def test_parse_line_rejects(line: str) -> None:
    with pytest.raises(StatsLineError):
        parse_line(line)


# --------------------------------------------------------------------------- slices


def _slices(*requests: tuple[float, bool, str | None]) -> SliceCounts:
    out = SliceCounts()
    for t, ok, served in requests:
        out.add(slice_key(t), ok, served)
    return out


def test_slice_of_a_request_lies_in_its_window() -> None:
    for t in (5.0, 5.025, 4.999999, 5.0000001, 1234.975, 0.001):
        key = window_key_of_slice(slice_key(t))
        assert key - 1 < t <= key + 1e-12
        assert (slice_key(t) - 1) * SLICE_S <= t + 1e-12 <= slice_key(t) * SLICE_S + 1e-12


def test_slice_record_layout_and_parse() -> None:
    # window 8 = (7, 8]: two v1 requests in its first slice, a failed v2 one in its last
    sc = _slices((7.01, True, "api-a/v1"), (7.02, True, "api-b/v1"), (7.99, False, "c/v2"))
    rec = sc.record(8, 8.0)
    assert rec["ok"][0] == 2 and rec["failed"][-1] == 1 and sum(rec["ok"]) == 2
    assert rec["served"] == {"v1": [2] + [0] * 39, "v2": [0] * 39 + [1]}
    assert "end" not in rec and "only" not in rec
    line = window_record(8.0, 1.0, AGGREGATE_NAME, NameStats(), 3, slices=rec)
    assert "slices" not in line  # an empty window carries none
    stats = NameStats()
    for outcome in (Outcome.OK, Outcome.OK, Outcome.ERROR_5XX):
        stats.add(outcome, 5.0, None)
    w = parse_line(json.dumps(window_record(8.0, 1.0, AGGREGATE_NAME, stats, 3, slices=rec)))
    assert isinstance(w, TrafficWindow) and w.slices is not None
    assert w.slices.version_at(0, "v1") == 2 and w.slices.version_at(39, "v2") == 1
    assert w.slices.bounds(8.0, 1.0, 0) == pytest.approx((7.0, 7.025))
    # one version for everyone: `only`; a window cut short at 8.5 says where its second ends
    rec = _slices((8.11, True, "api-a/v1"), (8.45, True, "api-b/v1")).record(9, 8.5)
    assert rec["only"] == "v1" and "served" not in rec and rec["end"] == 0.5
    sl = WindowSlices.from_json(rec)
    assert sl.version_at(4, "v1") == 1 and sl.version_at(4, "v2") == 0
    assert sl.bounds(8.5, 0.5, 4) == pytest.approx((8.1, 8.125))
    assert sl.bounds(8.5, 0.5, 39) == pytest.approx((8.5, 8.5))  # past the cut: empty


def test_merger_merges_worker_slices_and_keeps_late_out_of_them() -> None:
    m = WindowMerger()
    a, b = NameStats(), NameStats()
    a.add(Outcome.OK, 1.0, None)
    b.add(Outcome.OK, 1.0, None)
    m.add("w1", 0.0, 1.0, {"x": a}, 1, _slices((0.51, True, None)))
    m.add("w2", 0.0, 1.0, {"x": b}, 1, _slices((0.52, True, None)))
    (agg,) = [r for r in m.ready(1.1, {"w1", "w2"}) if r["name"] == AGGREGATE_NAME]
    assert agg["slices"]["ok"][20] == 2 and sum(agg["slices"]["ok"]) == 2
    m.add("w1", 0.0, 1.0, {"x": a}, 1, _slices((0.6, True, None)))  # late for window 1
    m.add("w1", 1.0, 2.0, {"x": b}, 1, _slices((1.7, True, None)))
    (agg,) = [r for r in m.ready(2.1, {"w1"}) if r["name"] == AGGREGATE_NAME]
    assert agg["late"] == 1 and agg["count"] == 2 and sum(agg["slices"]["ok"]) == 1


@pytest.mark.parametrize(
    "slices",
    [[], {"ok": "x"}, {"ok": [1, 2], "failed": [1]}, {"ok": [1], "served": {"v": [1, 2]}}],
)
def test_parse_line_rejects_bad_slices(slices: object) -> None:
    stats = NameStats()
    stats.add(Outcome.OK, 1.0, None)
    record = window_record(1.0, 1.0, AGGREGATE_NAME, stats, 1, slices={"ok": [1]})
    record["slices"] = slices
    with pytest.raises(StatsLineError):
        parse_line(json.dumps(record))
