"""Fast unit tests of the sandbox's pure parts."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gameday.sandbox import postgres as pg
from gameday.sandbox.breaker import BreakerState, CircuitBreaker
from gameday.sandbox.proxy import select_links
from gameday.sandbox.ratelimit import Priority, PriorityLimiter, TokenBucket
from gameday.sandbox.release import CanaryThresholds, analyse
from gameday.sandbox.rules import (
    AlertBook,
    Condition,
    Escalator,
    RuleConfig,
    evaluate,
    webhook_payload,
)
from gameday.sandbox.state import LinkInfo
from gameday.sandbox.stats import PromMetrics, RollingStats, WindowStats, percentile
from gameday.sandbox.timing import format_server_timing, parse_server_timing


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_refills_at_rate_up_to_capacity() -> None:
    clock = Clock()
    b = TokenBucket(rate=10, capacity=5, clock=clock)
    assert [b.try_take() for _ in range(6)] == [True] * 5 + [False]
    clock.t += 0.25  # 2.5 tokens
    assert [b.try_take() for _ in range(3)] == [True, True, False]
    clock.t += 100
    assert b.tokens == 5


def test_priority_limiter_sheds_low_priority_first() -> None:
    clock = Clock()
    lim = PriorityLimiter(rate=10, capacity=20, reserve=10, clock=clock)
    low = sum(lim.try_acquire(Priority.LOW) for _ in range(50))
    assert low == 10  # stops at the reserve
    assert not lim.try_acquire(Priority.LOW)
    assert lim.retry_after(Priority.LOW) >= 1
    high = sum(lim.try_acquire(Priority.HIGH) for _ in range(50))
    assert high == 10  # payments spend the reserve


@given(st.lists(st.sampled_from(list(Priority)), max_size=200))
def test_priority_limiter_never_overspends(calls: list[Priority]) -> None:
    lim = PriorityLimiter(rate=1, capacity=30, reserve=10, clock=lambda: 0.0)
    admitted = sum(lim.try_acquire(p) for p in calls)
    assert admitted <= 30
    assert lim.bucket.tokens >= 0


def _state(br: CircuitBreaker) -> BreakerState:
    # a function call keeps mypy from narrowing the property across the assertions
    return br.state


def test_breaker_state_machine() -> None:
    clock = Clock()
    seen: list[tuple[str, str]] = []
    br = CircuitBreaker(3, 2.0, clock, lambda o, n, r: seen.append((o.value, n.value)))
    for _ in range(2):
        assert br.allow()
        br.record_failure()
    assert _state(br) is BreakerState.CLOSED
    br.record_failure()
    assert _state(br) is BreakerState.OPEN and not br.allow()
    clock.t += 2.0
    assert _state(br) is BreakerState.HALF_OPEN
    assert br.allow() and not br.allow()  # one probe at a time
    br.record_failure()
    assert _state(br) is BreakerState.OPEN
    clock.t += 2.0
    assert br.allow()
    br.record_success()
    assert _state(br) is BreakerState.CLOSED
    assert seen == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


def test_breaker_success_resets_failure_count() -> None:
    br = CircuitBreaker(2, 1.0, Clock())
    br.record_failure()
    br.record_success()
    br.record_failure()
    assert _state(br) is BreakerState.CLOSED


def test_server_timing_roundtrip_and_order() -> None:
    header = format_server_timing({"db": 1.25, "api": 3.0, "gateway": 10.04, "upstream": 8.0})
    assert header == "gateway;dur=10.0, upstream;dur=8.0, api;dur=3.0, db;dur=1.2"
    assert parse_server_timing(header) == {"gateway": 10.0, "upstream": 8.0, "api": 3.0, "db": 1.2}
    assert parse_server_timing('cache;desc="x", db;dur=2') == {"db": 2.0}
    assert parse_server_timing(None) == {}


def test_percentile_and_rolling_window() -> None:
    assert percentile([], 99) == 0.0
    assert percentile(list(range(1, 101)), 99) == 99
    clock = Clock()
    rs = RollingStats(clock=clock)
    for i in range(10):
        rs.record("v1", 500 if i < 2 else 200, 10.0)
    rs.record("v2", 429, 1.0)
    w = rs.window("v1", 5)
    assert (w.requests, w.errors, w.error_rate) == (10, 2, 0.2)
    assert rs.window(None, 5).shed == 1
    clock.t += 30
    assert rs.window("v1", 5).requests == 0
    assert rs.window("v1", 5, end_ago_s=30).requests == 10


def test_prometheus_rendering() -> None:
    m = PromMetrics()
    m.record("/pay", 200, "v1", "site-a", 0.012)
    text = m.render()
    assert (
        'gameday_gateway_requests_total{route="/pay",status="200",version="v1",site="site-a"} 1'
        in text
    )
    assert 'le="0.025"} 1' in text and 'le="0.01"} 0' in text
    assert "gameday_gateway_request_duration_seconds_count" in text


def _w(requests: int, errors: int, p99: float = 10.0) -> WindowStats:
    return WindowStats(requests, errors, 0, p99 / 2, p99)


def test_rules_success_drop_latency_and_down() -> None:
    cfg = RuleConfig(success_drop_points=5, p99_ms=200, min_requests=10)
    assert evaluate(cfg, _w(100, 4), 1.0, []) == []
    names = [c.name for c in evaluate(cfg, _w(100, 6, p99=250), 1.0, ["db-primary"])]
    assert names == ["SuccessRateDrop", "HighLatencyP99", "ComponentDown"]
    assert evaluate(cfg, _w(5, 5, p99=900), 1.0, []) == []  # too little traffic to judge
    assert evaluate(cfg, _w(100, 50), None, []) == []  # no baseline yet


def test_alert_book_fires_repeats_and_resolves() -> None:
    cfg = RuleConfig()
    book = AlertBook(repeat_s=60)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    down = evaluate(cfg, _w(0, 0), None, ["api-a"])
    sent = book.update(down, 0.0, now)
    assert len(sent) == 1
    payload = webhook_payload(sent[0], "http://gw")
    assert payload["version"] == "4" and payload["status"] == "firing"
    assert payload["receiver"] and payload["groupKey"]
    alert = payload["alerts"][0]
    assert alert["labels"] == {
        "alertname": "ComponentDown",
        "severity": "critical",
        "service": "api-a",
    }
    assert alert["endsAt"] == "0001-01-01T00:00:00Z" and alert["startsAt"].endswith("Z")
    assert len(alert["fingerprint"]) == 16
    assert book.update(down, 10.0, now) == []
    assert len(book.update(down, 61.0, now)) == 1  # repeat interval
    resolved = book.update([], 62.0, now)
    assert webhook_payload(resolved[0])["status"] == "resolved"
    assert webhook_payload(resolved[0])["alerts"][0]["endsAt"].startswith("2025-01-01")


def _fire(
    book: AlertBook, esc: Escalator, conds: list[Condition], t: float
) -> list[dict[str, Any]]:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    return [webhook_payload(a) for a in esc.update(book.update(conds, t, now), t, now)]


def test_an_alert_repeated_n_times_within_the_window_escalates_once_as_its_own_alert() -> None:
    book, esc = AlertBook(repeat_s=1.0), Escalator(after=3, within_s=10.0)
    down = evaluate(RuleConfig(), _w(0, 0), None, ["db-primary"])
    assert _fire(book, esc, down, 0.0) == [] and _fire(book, esc, down, 1.0) == []
    [payload] = _fire(book, esc, down, 2.0)  # the third firing within 10 s
    labels = payload["alerts"][0]["labels"]
    assert labels["alertname"] == "AlertEscalated" and labels["escalated"] == "true"
    assert labels["escalated_from"] == "ComponentDown" and labels["service"] == "db-primary"
    assert payload["status"] == "firing" and payload["groupKey"] != "ComponentDown"
    assert payload["alerts"][0]["fingerprint"] != down[0].fingerprint
    assert _fire(book, esc, down, 3.0) == []  # the count starts anew after escalating
    [resolved] = _fire(book, esc, [], 4.0)  # resolves with its source
    assert resolved["status"] == "resolved" and resolved["commonLabels"]["escalated"] == "true"


def test_repeats_spread_wider_than_the_window_or_with_the_rule_off_do_not_escalate() -> None:
    down = evaluate(RuleConfig(), _w(0, 0), None, ["db-primary"])
    book, esc = AlertBook(repeat_s=6.0), Escalator(after=3, within_s=10.0)
    assert [_fire(book, esc, down, t) for t in (0.0, 6.0, 12.0, 18.0)] == [[]] * 4
    book, esc = AlertBook(repeat_s=1.0), Escalator(after=3, within_s=10.0, enabled=False)
    assert [_fire(book, esc, down, t) for t in (0.0, 1.0, 2.0, 3.0)] == [[]] * 4


def test_a_flapping_alert_escalates_and_an_undelivered_escalation_is_sent_again() -> None:
    book, esc = AlertBook(repeat_s=60.0), Escalator(after=2, within_s=10.0)
    down = evaluate(RuleConfig(), _w(0, 0), None, ["api-a"])
    assert _fire(book, esc, down, 0.0) == [] and _fire(book, esc, [], 1.0) == []
    [escalated] = esc.update(book.update(down, 2.0, datetime.now(UTC)), 2.0, datetime.now(UTC))
    escalated.last_sent = float("-inf")  # what the sender does when the receiver is away
    assert esc.update([], 3.0, datetime.now(UTC)) == [escalated]
    assert esc.update([], 4.0, datetime.now(UTC)) == []


def test_canary_analysis() -> None:
    th = CanaryThresholds(max_error_rate=0.05, max_p99_ms=250, min_requests=5)
    assert analyse(_w(3, 3), _w(100, 0), th) == []  # not enough data
    assert analyse(_w(20, 0), _w(100, 0), th) == []
    assert analyse(_w(20, 6), _w(100, 0), th)[0].startswith("error rate")
    assert analyse(_w(20, 6), _w(100, 30), th) == []  # everyone fails: not the canary's fault
    assert analyse(_w(20, 0, p99=320), _w(100, 0), th) == ["p99 320 ms > 250 ms"]
    # everyone is slow (a loaded machine): not the canary's fault either
    assert analyse(_w(20, 0, p99=320), _w(100, 0, p99=200), th) == []
    assert analyse(_w(20, 0, p99=520), _w(100, 0, p99=200), th) == ["p99 520 ms > 400 ms"]
    assert analyse(_w(20, 0, p99=320), _w(3, 0, p99=200), th) != []  # too few stable requests


def test_select_links() -> None:
    links = [
        LinkInfo(name=f"{s}-to-{d}", src=s, dst=d, listen_port=1, upstream_port=2)
        for s, d in [
            ("gateway", "api-a"),
            ("gateway", "api-b"),
            ("api-a", "db-primary"),
            ("api-b", "db-primary"),
            ("db-standby", "db-primary"),
        ]
    ]
    assert select_links(links) == []
    assert select_links(links, touching=["api-a"]) == ["gateway-to-api-a", "api-a-to-db-primary"]
    assert select_links(links, between=(["db-primary"], ["db-standby", "api-b"])) == [
        "api-b-to-db-primary",
        "db-standby-to-db-primary",
    ]
    assert select_links(links, names=["gateway-to-api-b"], touching=["api-a"]) == []


def _lock_file(data_dir: Path, pid: int) -> Path:
    lock = data_dir / "postmaster.pid"
    lock.write_text(f"{pid}\n{data_dir}\n1700000000\n5432\n/tmp\nlocalhost\n")
    return lock


def test_a_lock_file_naming_a_zombie_postmaster_is_stale(tmp_path: Path) -> None:
    # a SIGKILLed postmaster stays a zombie until its parent reaps it (an init may take
    # seconds); PostgreSQL would refuse to start over its lock file all that time
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.01)
        lock = _lock_file(tmp_path, pid)
        pg.await_previous_exit(tmp_path, timeout_s=5)
        assert not lock.exists()
    finally:
        os.waitpid(pid, 0)


def test_a_lock_file_naming_a_live_postmaster_is_left_alone(tmp_path: Path) -> None:
    lock = _lock_file(tmp_path, os.getpid())
    started = time.monotonic()
    pg.await_previous_exit(tmp_path, timeout_s=5)
    assert lock.exists() and time.monotonic() - started < 1


def test_topology_is_one_description_for_both_variants() -> None:
    from gameday.sandbox.container.node import PORTS
    from gameday.sandbox.container.stack import NETWORKS
    from gameday.sandbox.topology import APIS, COMPONENTS, DATABASES, GROUPS, link_pairs

    assert GROUPS == {
        "site-a": ["api-a", "api-canary", "db-primary"],
        "site-b": ["api-b", "db-standby"],
        "apis": ["api-a", "api-b", "api-canary"],
        "databases": ["db-primary", "db-standby"],
    }
    assert DATABASES == ("db-primary", "db-standby")
    assert APIS == ("api-a", "api-b", "api-canary")
    # every component but the fault proxy runs in a container, on a port of its own
    assert set(PORTS) == set(COMPONENTS) - {"proxy"} == set(NETWORKS)
    assert len(set(PORTS.values())) == len(PORTS)
    assert NETWORKS["api-b"] == ["site-b", "core"] and NETWORKS["gateway"] == ["core"]
    pairs = link_pairs()
    assert len(pairs) == len(set(pairs)) == 13
    assert all(src in COMPONENTS and dst in COMPONENTS for src, dst in pairs)
