"""Integration tests on a shared sandbox: payments, site cut, surge, breaker, canary, alerts."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from gameday.sandbox import manage
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.events import read_events
from gameday.sandbox.settings import SandboxSettings
from gameday.sandbox.state import SandboxState
from gameday.sandbox.timing import parse_server_timing
from tests.sandbox.conftest import running_sandbox

pytestmark = pytest.mark.slow


def pay(
    client: httpx.Client, url: str, account: str = "acct-1", amount: float = 1.5
) -> httpx.Response:
    return client.post(f"{url}/pay", json={"account": account, "amount": amount})


def wait_for(pred: Any, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def test_pay_balance_headers_and_metrics(sandbox: SandboxState) -> None:
    gw = sandbox.gateway_url
    with httpx.Client(timeout=5) as c:
        r = pay(c, gw, "acct-h", 10)
        assert r.status_code == 200, r.text
        assert isinstance(r.json()["id"], int)
        assert r.headers["x-served-by"] == "api-a/v1"
        hops = parse_server_timing(r.headers["server-timing"])
        assert set(hops) == {"gateway", "upstream", "api", "db"}
        assert hops["gateway"] >= hops["upstream"] >= hops["api"] >= hops["db"] > 0
        b = c.get(f"{gw}/balance", params={"account": "acct-h"})
        assert b.status_code == 200 and float(b.json()["balance"]) >= 10
        assert c.get(f"{gw}/coupons").status_code == 200
        assert pay(c, gw, "", 1).status_code == 400
        metrics = c.get(f"{gw}/metrics").text
        assert (
            'gameday_gateway_requests_total{route="/pay",status="200",version="v1",site="site-a"}'
            in metrics
        )
        assert "gameday_gateway_request_duration_seconds_bucket" in metrics


@pytest.fixture
def low_limit_sandbox() -> Iterator[SandboxState]:
    """A sandbox whose API limit (40 req/s) any client exceeds, even on a loaded machine."""
    with running_sandbox(rate_limit_rps=40, rate_limit_burst=40, payment_reserve=20) as state:
        yield state


def test_surge_sheds_coupons_before_payments(low_limit_sandbox: SandboxState) -> None:
    gw = low_limit_sandbox.gateway_url
    paying = threading.Event()
    paying.set()
    deadline = time.monotonic() + 25
    results: Counter[tuple[str, int]] = Counter()
    retry_after: list[str] = []

    def record(job: str, r: httpx.Response) -> None:
        results[(job, r.status_code)] += 1
        if r.status_code == 429:
            retry_after.append(r.headers.get("retry-after", ""))

    def payer() -> None:
        # 10 payments/s, well inside the 20/s reserved for them, whatever the coupons do
        with httpx.Client(timeout=5) as c:
            for _ in range(45):
                if time.monotonic() > deadline:
                    break
                record("pay", pay(c, gw, "acct-surge"))
                time.sleep(0.1)
        paying.clear()

    def couponer() -> None:
        with httpx.Client(timeout=5) as c:
            while paying.is_set() and time.monotonic() < deadline:
                record("coupons", c.get(f"{gw}/coupons"))

    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(payer)] + [pool.submit(couponer) for _ in range(11)]
        for f in futures:
            f.result()
    coupons_shed = results[("coupons", 429)]
    pay_ok = results[("pay", 200)]
    pay_total = sum(v for (job, _), v in results.items() if job == "pay")
    assert coupons_shed > 50, results
    assert pay_total == 45 and pay_ok / pay_total >= 0.95, results
    assert retry_after and all(v.isdigit() and int(v) >= 1 for v in retry_after)
    assert wait_for(lambda: read_events(Path(low_limit_sandbox.state_dir), "shed"), 3)


def test_breaker_opens_fails_fast_and_closes(sandbox: SandboxState) -> None:
    api = sandbox.components["api-a"].url  # direct, so the gateway's routing does not matter
    with SandboxClient(sandbox) as admin, httpx.Client(timeout=5) as c:
        admin.set_link("api-a-to-db-primary", "cut", mode="reset")
        try:
            codes = [pay(c, api).status_code for _ in range(8)]
            assert codes[:5] == [503] * 5
            fast = pay(c, api)
            assert fast.status_code == 503 and fast.headers.get("x-circuit") == "open"
            assert admin.api_status("api-a")["breakers"]["db-primary"] == "open"
        finally:
            admin.restore_links()
        assert wait_for(lambda: pay(c, api).status_code == 200, 8, 0.3)
        assert admin.api_status("api-a")["breakers"]["db-primary"] == "closed"
    events = read_events(Path(sandbox.state_dir))
    assert any(e["event"] == "breaker_open" and e["component"] == "api-a" for e in events)
    assert any(e["event"] == "breaker_closed" and e["component"] == "api-a" for e in events)


def _traffic(url: str, stop: threading.Event, out: Counter[str], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    with httpx.Client(timeout=5) as c:
        while not stop.is_set() and time.monotonic() < deadline:
            r = pay(c, url, "acct-canary")
            out[r.headers.get("x-served-by", "?")] += 1


@pytest.mark.parametrize(("version", "why"), [("v2-faulty", "error rate"), ("v2-slow", "p99")])
def test_bad_canary_is_rolled_back(sandbox: SandboxState, version: str, why: str) -> None:
    stop = threading.Event()
    served: Counter[str] = Counter()
    threads = [
        threading.Thread(target=_traffic, args=(sandbox.gateway_url, stop, served, 40))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    try:
        with SandboxClient(sandbox) as admin:
            admin.start_rollout(version, steps=[5, 20, 50, 100], interval_s=2.0)
            assert wait_for(
                lambda: admin.rollout_status()["rollout"]["status"] != "running", 35, 0.25
            )
            rollout = admin.rollout_status()["rollout"]
            assert rollout["status"] == "rolled_back", rollout
            assert any(why in reason for reason in rollout["reasons"]), rollout
            assert rollout["step"] < 100
            assert admin.gateway_status()["weights"]["canary"] == 0
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert served[f"api-canary/{version}"] > 0
    events = read_events(Path(sandbox.state_dir))
    steps = [e["weight"] for e in events if e["event"] == "rollout_step"]
    assert steps and steps[0] == 5 and 100 not in steps
    assert any(e["event"] == "rolled_back" and e["version"] == version for e in events)
    assert any(e["event"] == "weights_changed" for e in events)


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        _Receiver.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_alerts_fire_and_resolve_as_alertmanager_webhooks(sandbox: SandboxState) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    sd = Path(sandbox.state_dir)

    def got(status: str) -> bool:
        return any(
            p["status"] == status and p["commonLabels"].get("service") == "release"
            for p in _Receiver.received
        )

    try:
        with SandboxClient(sandbox) as admin:
            admin.set_alert_receiver(url)
            manage.kill_component(sd, "release")
            assert wait_for(lambda: got("firing"), 10)
            manage.start_component(sd, "release")
            assert wait_for(lambda: got("resolved"), 10)
            admin.set_alert_receiver(None)
    finally:
        server.shutdown()
    payload = next(p for p in _Receiver.received if p["status"] == "firing")
    assert payload["version"] == "4" and payload["receiver"] and payload["groupKey"]
    for key in ("labels", "annotations", "startsAt", "endsAt", "fingerprint"):
        assert key in payload["alerts"][0]
    assert any(e["event"] == "alert_sent" for e in read_events(sd))


def test_cut_site_a_gateway_serves_from_site_b(sandbox: SandboxState) -> None:
    gw = sandbox.gateway_url
    sd = Path(sandbox.state_dir)
    with SandboxClient(sandbox) as admin, httpx.Client(timeout=5) as c:
        cut = admin.apply_links("cut", touching=["site-a"])
        assert "gateway-to-api-a" in cut and "failover-to-db-primary" in cut
        try:

            def served_by_b() -> bool:
                r = pay(c, gw, "acct-cut")
                return r.status_code == 200 and r.headers["x-served-by"] == "api-b/v1"

            assert wait_for(served_by_b, 15, 0.2)
            assert admin.gateway_status()["active_site"] == "b"
            assert manage.status(sd).writer == "db-standby"
        finally:
            admin.restore_links()
        # the fenced old primary rejoins as a standby, then traffic fails back on request
        manage.start_component(sd, "db-primary")
        st = manage.status(sd)
        assert st.component("db-primary").role == "standby"
        assert st.component("db-standby").role.startswith("primary")
        assert wait_for(lambda: admin.gateway_status()["sites"]["a"]["healthy"], 10)
        admin.failback()
        r = pay(c, gw, "acct-cut")
        assert r.status_code == 200 and r.headers["x-served-by"] == "api-a/v1"
    names = {e["event"] for e in read_events(sd)}
    assert {
        "failover",
        "failback",
        "promoted",
        "writer_repointed",
        "fenced",
        "health_failed",
        "link_changed",
        "rejoined_as_standby",
    } <= names


def test_second_up_in_same_dir_is_refused(sandbox: SandboxState) -> None:
    from gameday.sandbox.state import SandboxError

    with pytest.raises(SandboxError, match="already running"):
        manage.up(SandboxSettings(state_dir=Path(sandbox.state_dir)))
    assert manage.status(Path(sandbox.state_dir)).component("gateway").healthy
