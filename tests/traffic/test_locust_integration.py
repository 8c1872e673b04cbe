"""Integration tests with real Locust processes against a local fake payment API.

Every run is bounded (max_duration_s and max_requests) and stopped in a finally block.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from gameday.traffic.profiles import BUILTIN_PROFILES
from gameday.traffic.runner import TrafficConfig, TrafficRun, free_port, summarize
from gameday.traffic.slices import SLICES_PER_WINDOW, version_of
from gameday.traffic.stats import TrafficWindow

from .conftest import FakeApi

pytestmark = pytest.mark.slow

PATH_OF = {"pay": "/pay", "balance": "/balance", "coupons": "/coupons"}
OUTCOMES = ("ok", "shed", "circuit", "error_5xx", "error_other")


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(cond: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def collect(run: TrafficRun, seconds: float) -> list[TrafficWindow]:
    out: list[TrafficWindow] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.2)
        out += run.read_new()
    return out


def config(api: FakeApi, **kw: object) -> TrafficConfig:
    base: dict[str, object] = {
        "host": api.url,
        "users": 3,
        "spawn_rate": 20.0,
        "max_duration_s": 30.0,
        "max_requests": 50_000,
    }
    base.update(kw)
    return TrafficConfig(**base)  # type: ignore[arg-type]


def assert_matches_server(windows: list[TrafficWindow], api: FakeApi) -> None:
    """Per name and outcome, the windows add up exactly to what the server answered."""
    by_name: dict[str, Counter[str]] = {}
    for w in windows:
        if w.is_aggregate:
            continue
        c = by_name.setdefault(w.name, Counter())
        c["count"] += w.count
        for o in OUTCOMES:
            c[o] += getattr(w, o)
        for served, n in w.served_by.items():
            c["by:" + served] += n
    assert set(by_name) == set(PATH_OF)
    for name, path in PATH_OF.items():
        assert by_name[name]["count"] == api.total(path), name
        for o in OUTCOMES:
            assert by_name[name][o] == api.outcome(path, o), (name, o)
        for (p, served), n in api.served_by.items():
            if p == path:
                assert by_name[name]["by:" + served] == n, (name, served)
    assert summarize(windows)["count"] == api.total()


def assert_one_line_per_name_per_second(windows: list[TrafficWindow]) -> None:
    keys = Counter((w.t_mono, w.name) for w in windows)
    assert max(keys.values()) == 1
    ends = sorted({w.t_mono for w in windows if w.is_aggregate})
    assert ends == sorted(ends)
    full = [w for w in windows if w.is_aggregate][1:-1]
    assert full and all(w.window == 1.0 and w.t_mono == int(w.t_mono) for w in full)
    # the fixed-rate schedule writes every second: no gap between consecutive windows
    assert all(b - a == pytest.approx(1.0) for a, b in itertools.pairwise(ends[:-1]))


@pytest.mark.parametrize("workers", [0, 2])
def test_payment_profile_counts_match_server(
    fake_api: FakeApi, tmp_path: Path, workers: int
) -> None:
    run = TrafficRun(config(fake_api, workers=workers), tmp_path / "run")
    try:
        run.start()
        pids = list(run.pids().values())
        assert len(pids) == workers + 1
        windows = collect(run, 4.0)
        assert windows, "per-second windows arrive while the run is going"
    finally:
        run.stop()
    windows += run.read_new()
    # stop() is graceful: users finish their request, and the last partial window is written
    assert run.stop_reason == "terminated"
    assert not any(alive(pid) for pid in pids)
    assert_matches_server(windows, fake_api)
    assert_one_line_per_name_per_second(windows)
    agg = [w for w in windows if w.is_aggregate and w.window == 1.0]
    assert all(w.users == 3 for w in agg[1:])
    assert all(w.p50_ms is not None and w.p99_ms is not None for w in agg if w.count)
    assert all(w.p50_ms <= w.p95_ms <= w.p99_ms <= w.max_ms for w in agg if w.count)  # type: ignore[operator]
    assert sum(w.shed for w in windows) > 0 and sum(w.circuit for w in windows) > 0
    run.stop()  # idempotent


@pytest.mark.parametrize("workers", [0, 2])
def test_aggregate_windows_carry_slices_that_add_up(
    fake_api: FakeApi, tmp_path: Path, workers: int
) -> None:
    run = TrafficRun(config(fake_api, workers=workers), tmp_path / "run")
    try:
        run.start()
        windows = collect(run, 3.5)
    finally:
        run.stop()
    windows += run.read_new()
    agg = [w for w in windows if w.is_aggregate and w.count]
    assert agg and all(w.slices is not None for w in agg)
    total = 0
    for w in agg:
        sl = w.slices
        assert sl is not None and len(sl) == SLICES_PER_WINDOW
        assert w.late == 0 and sl.total() == w.count
        assert sum(sl.ok) == w.ok and sum(sl.failed_at(i) for i in range(len(sl))) == w.failures
        versions = Counter[str]()
        for served, n in w.served_by.items():
            versions[version_of(served)] += n
        for version, n in versions.items():
            assert sum(sl.version_at(i, version) for i in range(len(sl))) == n, version
        # every request lies in a slice of its own window
        for i in range(len(sl)):
            a, b = sl.bounds(w.t_mono, w.window, i)
            assert sl.count_at(i) == 0 or a < b
        total += sl.total()
    assert total == fake_api.total()
    # slices lie on the clock's grid seconds: a window cut short by the stop says where its
    # grid second ends
    for w in agg:
        assert w.slices is not None
        grid_end = w.t_mono + w.slices.end
        assert grid_end == pytest.approx(round(grid_end), abs=2e-6)
        assert (w.slices.end > 0) == (w.t_mono != round(w.t_mono))


def test_set_users_and_surge_change_throughput(fake_api: FakeApi, tmp_path: Path) -> None:
    run = TrafficRun(config(fake_api, users=1), tmp_path / "run")
    try:
        run.start()
        low = collect(run, 3.0)
        run.set_users(6, 100.0)
        time.sleep(1.0)
        run.read_new()
        high = collect(run, 3.0)
        run.set_users(2, 100.0)
        steps = run.surge(3.0, ramp_s=1.0, hold_s=2.0)
        assert [(s.users, s.spawn_rate) for s in steps] == [(6, 4.0), (2, 4.0)]
        surge = collect(run, 6.5)
    finally:
        run.stop()

    def rate(ws: list[TrafficWindow]) -> float:
        full = [w for w in ws if w.is_aggregate and w.window == 1.0]
        return sum(w.count for w in full) / len(full)

    assert rate(high) > 3.0 * rate(low)
    assert {w.users for w in high if w.is_aggregate} == {6}
    users = [w.users for w in surge if w.is_aggregate]
    assert max(users) == 6 and users[-1] == 2


def test_promotion_surge_adds_coupon_hunters_not_payers(fake_api: FakeApi, tmp_path: Path) -> None:
    promotion = BUILTIN_PROFILES["promotion"]
    run = TrafficRun(config(fake_api, users=2, locustfile=promotion), tmp_path / "run")
    try:
        run.start()
        collect(run, 1.0)
        before = {path: fake_api.total(path) for path in ("/pay", "/coupons")}
        time.sleep(3.0)
        baseline = {path: fake_api.total(path) - n for path, n in before.items()}
        run.set_users(8, 100.0)
        time.sleep(1.0)
        before = {path: fake_api.total(path) for path in ("/pay", "/coupons")}
        time.sleep(3.0)
        surge = {path: fake_api.total(path) - n for path, n in before.items()}
    finally:
        run.stop()
    # Locust's dispatcher: the two baseline users are customers, the six newcomers hunters
    spawned = re.findall(
        r"All users spawned: (\{.*?\})", (tmp_path / "run" / "locust-local.log").read_text()
    )
    assert [json.loads(s) for s in spawned[:2]] == [
        {"CouponHunter": 0, "Customer": 2},
        {"CouponHunter": 6, "Customer": 2},
    ]
    # and what the server saw: payments keep their pace, coupons take the surge
    assert surge["/pay"] < 2 * baseline["/pay"], (baseline, surge)
    assert surge["/coupons"] > 2 * surge["/pay"], surge


def test_user_locustfile_and_connection_errors(fake_api: FakeApi, tmp_path: Path) -> None:
    closed = free_port()  # nothing listens here: connection refused
    mine = tmp_path / "shop.py"
    mine.write_text(
        textwrap.dedent(
            f"""
            from locust import HttpUser, constant, task

            class Shopper(HttpUser):
                wait_time = constant(0.05)

                @task(3)
                def coupons(self):
                    self.client.get("/coupons", name="c")

                @task(1)
                def missing(self):
                    self.client.get("/missing", name="missing")

                @task(1)
                def refused(self):
                    self.client.get("http://127.0.0.1:{closed}/x", name="refused")
            """
        )
    )
    run = TrafficRun(config(fake_api, users=2, locustfile=mine), tmp_path / "run")
    try:
        run.start()
        windows = collect(run, 3.0)
    finally:
        run.stop()
    windows += run.read_new()
    totals: dict[str, Counter[str]] = {}
    for w in windows:
        c = totals.setdefault(w.name, Counter())
        for o in ("count", *OUTCOMES):
            c[o] += getattr(w, o)
    assert set(totals) == {"c", "missing", "refused", "*"}
    assert totals["c"]["count"] == fake_api.total("/coupons")
    assert totals["c"]["shed"] == fake_api.outcome("/coupons", "shed") > 0
    assert (
        totals["missing"]["error_other"] == totals["missing"]["count"] == fake_api.total("/missing")
    )
    assert totals["refused"]["error_other"] == totals["refused"]["count"] > 0


def test_max_requests_stops_by_itself(fake_api: FakeApi, tmp_path: Path) -> None:
    run = TrafficRun(config(fake_api, users=4, max_requests=60), tmp_path / "run")
    try:
        run.start()
        assert wait_for(lambda: not run.running(), 15.0), "locust stops after max_requests"
    finally:
        run.stop()
    windows = run.read_new()
    assert run.stop_reason == "max_requests"
    total = summarize(windows)["count"]
    # requests in flight when the budget is reached still complete: at most one per user
    assert 60 <= total <= 60 + 4
    assert total == fake_api.total()


def test_max_duration_stops_by_itself(fake_api: FakeApi, tmp_path: Path) -> None:
    run = TrafficRun(config(fake_api, users=2, max_duration_s=3.0), tmp_path / "run")
    try:
        t0 = time.monotonic()
        run.start()
        assert wait_for(lambda: not run.running(), 12.0), "locust stops at max_duration"
        elapsed = time.monotonic() - t0
    finally:
        run.stop()
    windows = run.read_new()
    assert run.stop_reason == "max_duration"
    assert 3.0 <= elapsed < 9.0
    last = max(w.t_mono for w in windows)
    assert run.deadline is not None and last <= run.deadline + 3.0
    assert summarize(windows)["count"] == fake_api.total()


ENGINE = """
import sys, time
from pathlib import Path
from gameday.traffic.runner import TrafficConfig, TrafficRun

run = TrafficRun(
    TrafficConfig(host=sys.argv[1], users=2, spawn_rate=20, max_duration_s=60,
                  max_requests=100_000, workers=int(sys.argv[3])),
    Path(sys.argv[2]),
)
run.start()
print(" ".join(str(p) for p in run.pids().values()), flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("workers", [0, 1])
def test_locust_exits_when_engine_is_killed(
    fake_api: FakeApi, tmp_path: Path, workers: int
) -> None:
    run_dir = tmp_path / "run"
    engine = subprocess.Popen(
        [sys.executable, "-c", ENGINE, fake_api.url, str(run_dir), str(workers)],
        stdout=subprocess.PIPE,
        text=True,
    )
    pids: list[int] = []
    try:
        assert engine.stdout is not None
        pids = [int(p) for p in engine.stdout.readline().split()]
        assert len(pids) == workers + 1 and all(alive(p) for p in pids)
        time.sleep(1.0)
        engine.send_signal(signal.SIGKILL)
        engine.wait(timeout=5)
        assert wait_for(lambda: not any(alive(p) for p in pids), 15.0)
    finally:
        engine.kill()
        engine.wait()
        for pid in pids:  # only if the test failed: never leave Locust behind
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    text = (run_dir / "traffic-stats.jsonl").read_text()
    assert '"reason":"parent_gone"' in text and '"event":"stopped"' in text


def test_hard_deadline_when_user_code_starves_gevent(fake_api: FakeApi, tmp_path: Path) -> None:
    """A task that never yields blocks every greenlet; the native watchdog still ends Locust."""
    hog = tmp_path / "hog.py"
    hog.write_text(
        textwrap.dedent(
            """
            from locust import HttpUser, constant, task

            class Hog(HttpUser):
                wait_time = constant(0.1)

                @task
                def spin(self):
                    self.client.get("/pay", name="pay")
                    while True:  # never yields to gevent
                        pass
            """
        )
    )
    cfg = config(fake_api, users=1, locustfile=hog, max_duration_s=2.5, stop_timeout_s=0.0)
    run = TrafficRun(cfg, tmp_path / "run")
    try:
        t0 = time.monotonic()
        run.start()
        # deadline 2.5 s + grace 5 s -> SIGTERM (ignored: the hub never runs) + 3 s -> _exit
        assert wait_for(lambda: not run.running(), 16.0)
        elapsed = time.monotonic() - t0
    finally:
        run.stop()
    assert 7.5 <= elapsed <= 14.0
    assert run.poll()["local"] == 70
    assert run.stop_reason == "hard_deadline"
