"""HTTP probe: pass/fail shapes, Server-Timing hops, X-Served-By, reconnect after failures."""

from __future__ import annotations

import pytest

from gameday.runners.probes import HttpProber, Observation, parse_server_timing
from gameday.scenarios.model import HttpProbe as HttpModel

from .conftest import FakeHttp, run


def model(url: str, **kw: object) -> HttpModel:
    return HttpModel.model_validate({"type": "http", "name": "web", "url": url, **kw})


def sample_once(m: HttpModel) -> Observation:
    async def main() -> Observation:
        probe = HttpProber(m)
        try:
            return await probe.sample()
        finally:
            await probe.close()

    return run(main())


def test_server_timing_parse() -> None:
    t = parse_server_timing(
        'gateway;dur=12.3, upstream;dur=10.1, api;dur=9.0, db;dur=7.5;desc="db-primary"'
    )
    assert t.durations == pytest.approx(
        {"gateway": 0.0123, "upstream": 0.0101, "api": 0.009, "db": 0.0075}
    )
    assert t.descriptions == {"db": "db-primary"}


def test_server_timing_odd_inputs() -> None:
    assert parse_server_timing(None).durations == {}
    assert parse_server_timing("").durations == {}
    t = parse_server_timing('miss, cache;desc="a, b; c";dur=1, bad;dur=x, neg;dur=-1,db;DUR="2.5"')
    assert t.durations == pytest.approx({"cache": 0.001, "db": 0.0025})
    assert t.descriptions == {"cache": "a, b; c"}


def test_pass_with_hops_and_served_by(fake_http: FakeHttp) -> None:
    fake_http.routes["/health"] = (
        200,
        {"Server-Timing": 'gateway;dur=5, db;dur=2;desc="db-standby"', "X-Served-By": "api-b/v1"},
        b"status ok",
        0.0,
    )
    obs = sample_once(model(fake_http.url + "/health", body_contains="ok"))
    assert obs.ok and obs.detail == ""
    assert obs.value == 200
    assert obs.latency is not None and obs.latency > 0
    assert obs.hops == pytest.approx({"gateway": 0.005, "db": 0.002})
    assert obs.hop_desc == {"db": "db-standby"}
    assert obs.served_by == "api-b/v1"


def test_status_body_and_latency_failures(fake_http: FakeHttp) -> None:
    fake_http.routes["/down"] = (503, {}, b"no", 0.0)
    fake_http.routes["/text"] = (200, {}, b"degraded", 0.0)
    fake_http.routes["/slow"] = (200, {}, b"ok", 0.3)
    assert sample_once(model(fake_http.url + "/down")).detail == "status 503"
    assert sample_once(model(fake_http.url + "/down", expect_status=[200, 503])).ok
    assert sample_once(model(fake_http.url + "/text", body_contains="ok")).detail == (
        "body lacks 'ok'"
    )
    slow = sample_once(model(fake_http.url + "/slow", max_latency="100ms"))
    assert not slow.ok and slow.detail.startswith("slow: ") and slow.detail.endswith("> 100ms")


def test_timeout(fake_http: FakeHttp) -> None:
    fake_http.routes["/hang"] = (200, {}, b"ok", 5.0)
    obs = sample_once(model(fake_http.url + "/hang", timeout="200ms"))
    assert not obs.ok and obs.detail == "timeout after 200ms"
    assert obs.latency is None


def test_connect_refused(closed_port: int) -> None:
    obs = sample_once(model(f"http://127.0.0.1:{closed_port}/"))
    assert not obs.ok and obs.detail == "connect refused"


def test_method_headers_body(fake_http: FakeHttp) -> None:
    fake_http.routes["/pay"] = (201, {}, b"{}", 0.0)
    obs = sample_once(
        model(
            fake_http.url + "/pay",
            method="POST",
            headers={"X-Drill": "yes"},
            body='{"amount": 1}',
            expect_status=201,
        )
    )
    assert obs.ok
    method, _, headers, body = fake_http.requests[-1]
    assert method == "POST" and headers["X-Drill"] == "yes" and body == b'{"amount": 1}'


def test_reconnects_after_failure(fake_http: FakeHttp) -> None:
    fake_http.routes["/h"] = (200, {}, b"ok", 0.0)
    fake_http.routes["/hang"] = (200, {}, b"ok", 5.0)

    async def main() -> list[Observation]:
        probe = HttpProber(model(fake_http.url + "/h", timeout="300ms"))
        out = [await probe.sample()]
        first = probe._client
        probe.model = model(fake_http.url + "/hang", timeout="300ms")
        out.append(await probe.sample())
        assert probe._client is None  # the pool that saw the failure is gone
        probe.model = model(fake_http.url + "/h", timeout="300ms")
        out.append(await probe.sample())
        assert probe._client is not first
        await probe.close()
        out.append(await probe.sample())
        return out

    ok1, hang, ok2, closed = run(main())
    assert ok1.ok and not hang.ok and ok2.ok
    assert not closed.ok and closed.detail == "probe closed"
