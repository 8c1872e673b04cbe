"""TCP, command and Prometheus probes, and the factory."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from gameday.runners.probes import (
    CommandProber,
    Observation,
    PrometheusProber,
    TcpProber,
    build_probe,
)
from gameday.runners.probes.base import compare
from gameday.runners.probes.prometheus import extract_value
from gameday.scenarios.model import CommandProbe as CommandModel
from gameday.scenarios.model import PrometheusProbe as PromModel
from gameday.scenarios.model import TcpProbe as TcpModel

from .conftest import FakeHttp, run


def sample(probe: TcpProber | CommandProber | PrometheusProber) -> Observation:
    async def main() -> Observation:
        try:
            return await probe.sample()
        finally:
            await probe.close()

    return run(main())


def test_tcp(fake_http: FakeHttp, closed_port: int) -> None:
    port = int(fake_http.url.rsplit(":", 1)[1])
    up = TcpProber(TcpModel(type="tcp", name="t", port=port))
    down = TcpProber(TcpModel(type="tcp", name="t", port=closed_port))
    ok = sample(up)
    assert ok.ok and ok.latency is not None
    refused = sample(down)
    assert not refused.ok and refused.detail == "connect refused"


def test_tcp_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # traffic stays on 127.0.0.1, so a hanging connect is simulated, not sought on the network
    async def hang(*args: object, **kw: object) -> None:
        await asyncio.sleep(30)

    monkeypatch.setattr(asyncio, "open_connection", hang)
    probe = TcpProber(
        TcpModel.model_validate({"type": "tcp", "name": "t", "port": 9, "timeout": "200ms"})
    )
    obs = sample(probe)
    assert not obs.ok and obs.detail == "timeout after 200ms"


def command(run_: list[str], **kw: object) -> CommandProber:
    probe = build_probe(
        CommandModel.model_validate({"type": "command", "name": "c", "run": run_, **kw}),
        run_id="r",
        receiver=None,
    )
    assert isinstance(probe, CommandProber)
    return probe


def test_command_exit_codes() -> None:
    ok = sample(command([sys.executable, "-c", "pass"]))
    assert ok.ok and ok.value == 0
    bad = sample(
        command([sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"])
    )
    assert not bad.ok and bad.value == 3 and bad.detail == "exit 3: boom"
    assert sample(command([sys.executable, "-c", "raise SystemExit(3)"], expect_exit=3)).ok
    missing = sample(command(["/nonexistent/tool"]))
    assert not missing.ok and missing.detail.startswith("cannot run /nonexistent/tool")


def test_command_timeout_kills() -> None:
    probe = command([sys.executable, "-c", "import time; time.sleep(30)"], timeout="300ms")
    t0 = time.monotonic()
    obs = sample(probe)
    assert not obs.ok and obs.detail == "timeout after 300ms"
    assert time.monotonic() - t0 < 3.0


def test_command_shell_string_is_split_not_shelled() -> None:
    obs = sample(command("echo a; exit 1"))  # type: ignore[arg-type]
    assert obs.ok  # `echo` printed "a; exit 1": no shell ran


@pytest.mark.parametrize(
    ("value", "expect", "ok"),
    [
        (0.01, "< 0.05", True),
        (0.05, "< 0.05", False),
        (0.05, "<= 0.05", True),
        (3, "== 3", True),
        (3, "!= 3", False),
        (float("nan"), "< 1", False),
        (2, ">= 1e0", True),
    ],
)
def test_compare(value: float, expect: str, ok: bool) -> None:
    assert compare(value, expect) is ok


def vector(*values: str) -> dict[str, object]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"job": "api"}, "value": [1714557600.123, v]} for v in values],
        },
    }


def test_extract_value_shapes() -> None:
    assert extract_value(vector("0.02")) == (0.02, "")
    assert extract_value(vector()) == (None, "no data")
    assert extract_value(
        {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "7"]}}
    ) == (7.0, "")
    assert extract_value({"status": "error", "errorType": "bad_data", "error": "parse error"}) == (
        None,
        "query error: parse error",
    )
    assert extract_value({"status": "success", "data": {"resultType": "matrix", "result": []}})[
        1
    ].startswith("range vector")
    assert extract_value("nope") == (None, "not a Prometheus answer")
    assert extract_value(vector("NaN"))[0] != extract_value(vector("NaN"))[0]  # NaN passes through


def prom(url: str, expect: str = "< 0.05", **kw: object) -> PrometheusProber:
    m = PromModel.model_validate(
        {
            "type": "prometheus",
            "name": "p",
            "url": url,
            "query": 'rate(errors{job="api"}[1m])',
            "expect": expect,
            **kw,
        }
    )
    return PrometheusProber(m)


def test_prometheus_against_stand_in(fake_http: FakeHttp, closed_port: int) -> None:
    fake_http.json_route("/api/v1/query", vector("0.01"))
    good = sample(prom(fake_http.url + "/"))
    assert good.ok and good.value == 0.01
    _, path, _, _ = fake_http.requests[-1]
    assert path.startswith("/api/v1/query?query=rate%28errors")
    fake_http.json_route("/api/v1/query", vector("0.2"))
    bad = sample(prom(fake_http.url))
    assert not bad.ok and bad.value == 0.2 and bad.detail == "value 0.2 not < 0.05"
    fake_http.json_route("/api/v1/query", vector())
    assert sample(prom(fake_http.url)).detail == "no data"
    fake_http.json_route(
        "/api/v1/query",
        {"status": "error", "errorType": "bad_data", "error": "parse error"},
        status=400,
    )
    assert sample(prom(fake_http.url)).detail == "query error: parse error"
    fake_http.routes["/api/v1/query"] = (502, {}, b"", 0.0)
    assert sample(prom(fake_http.url)).detail == "status 502"
    fake_http.routes["/api/v1/query"] = (200, {}, b"<html>", 0.0)
    assert sample(prom(fake_http.url)).detail == "invalid JSON from Prometheus"
    fake_http.routes["/api/v1/query"] = (200, {}, b"{}", 5.0)
    assert sample(prom(fake_http.url, timeout="200ms")).detail == "timeout after 200ms"
    assert sample(prom(f"http://127.0.0.1:{closed_port}")).detail == "connect refused"


def test_factory_builds_each_type() -> None:
    async def main() -> None:
        probe = build_probe(TcpModel(type="tcp", name="t", port=1), run_id="r", receiver=None)
        assert probe.name == "t" and probe.type == "tcp" and probe.every == 0.5
        await probe.close()

    asyncio.run(main())
