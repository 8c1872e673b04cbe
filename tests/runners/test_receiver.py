"""AlertReceiver: path filtering, payload validation, firing state; the alert probe on top."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from gameday.runners.probes import AlertProber, build_probe
from gameday.runners.receiver import AlertReceiver, PayloadError, ReceivedAlert, parse_payload
from gameday.scenarios.model import AlertProbe as AlertModel

from .conftest import run


def payload(
    status: str = "firing", name: str = "SuccessRateDrop", fp: str = "abc", **labels: str
) -> dict[str, Any]:
    alert_labels = {"alertname": name, "severity": "critical", **labels}
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + name + '"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "gameday",
        "groupLabels": {"alertname": name},
        "commonLabels": alert_labels,
        "commonAnnotations": {"summary": "success rate down"},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [
            {
                "status": status,
                "labels": alert_labels,
                "annotations": {"summary": "success rate down"},
                "startsAt": "2024-05-01T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": fp,
            }
        ],
    }


async def post(url: str, body: bytes | dict[str, Any], method: str = "POST") -> int:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(trust_env=False) as client:
        r = await client.request(
            method, url, content=content, headers={"content-type": "application/json"}
        )
        return r.status_code


def test_records_alerts_on_its_path_only() -> None:
    seen: list[ReceivedAlert] = []

    async def main() -> AlertReceiver:
        rx = AlertReceiver("run-123", on_alert=seen.append)
        await rx.start()
        try:
            assert rx.url.endswith("/hooks/run-123") and rx.port > 0
            base = rx.url.rsplit("/hooks/", 1)[0]
            assert await post(rx.url, payload()) == 200
            assert await post(base + "/hooks/other-run", payload()) == 404
            assert await post(base + "/", payload()) == 404
            assert await post(rx.url, b"", method="GET") == 405
            assert await post(rx.url + "?x=1", payload(status="resolved")) == 200
        finally:
            await rx.stop()
        return rx

    rx = run(main())
    assert [a.status for a in rx.alerts] == ["firing", "resolved"]
    assert seen == rx.alerts
    first = rx.alerts[0]
    assert first.name == "SuccessRateDrop" and first.fingerprint == "abc"
    assert first.labels["severity"] == "critical" and first.receiver == "gameday"
    assert first.t <= rx.alerts[1].t
    assert rx.firing() == []  # resolved since


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        json.dumps({**payload(), "version": "3"}).encode(),
        json.dumps({**payload(), "alerts": "nope"}).encode(),
        json.dumps({**payload(), "alerts": [{"status": "weird", "labels": {}}]}).encode(),
        json.dumps({**payload(), "alerts": [{"status": "firing", "labels": {"a": 1}}]}).encode(),
    ],
)
def test_invalid_payload_is_400_and_not_recorded(body: bytes) -> None:
    async def main() -> tuple[int, AlertReceiver]:
        rx = AlertReceiver("r1")
        await rx.start()
        try:
            return await post(rx.url, body), rx
        finally:
            await rx.stop()

    status, rx = run(main())
    assert status == 400
    assert rx.alerts == [] and rx.rejected == 1


def test_body_size_bounded() -> None:
    async def main() -> tuple[int, int, AlertReceiver]:
        rx = AlertReceiver("r1", max_body=2048)
        await rx.start()
        try:
            big = payload(filler="x" * 4096)
            small = await post(rx.url, payload())
            return await post(rx.url, big), small, rx
        finally:
            await rx.stop()

    big, small, rx = run(main())
    assert big == 413 and small == 200
    assert len(rx.alerts) == 1


def test_parse_payload_accepts_minimal_and_rejects_bad_maps() -> None:
    alerts = parse_payload(json.dumps(payload()).encode(), 5.0)
    assert alerts[0].t == 5.0 and alerts[0].group_key.startswith("{}:")
    with pytest.raises(PayloadError):
        parse_payload(json.dumps({**payload(), "commonLabels": [1]}).encode(), 0.0)


def test_firing_tracks_latest_state_and_match() -> None:
    rx = AlertReceiver("r")
    rx.record(parse_payload(json.dumps(payload(fp="a", site="a")).encode(), 1.0))
    rx.record(
        parse_payload(json.dumps(payload(name="HighLatency", fp="b", site="b")).encode(), 2.0)
    )
    assert len(rx.firing()) == 2
    assert [a.name for a in rx.firing({"site": "b"})] == ["HighLatency"]
    assert rx.firing({"alertname": "Nope"}) == []
    rx.record(parse_payload(json.dumps(payload(status="resolved", fp="a", site="a")).encode(), 3.0))
    assert [a.name for a in rx.firing()] == ["HighLatency"]
    first = rx.first(after=1.5)
    assert first is not None and first.t == 2.0


def test_alert_probe_passes_until_matching_alert_fires() -> None:
    rx = AlertReceiver("r")
    probe = build_probe(
        AlertModel.model_validate(
            {"type": "alert", "name": "no-alerts", "match": {"severity": "critical"}}
        ),
        run_id="r",
        receiver=rx,
    )
    assert isinstance(probe, AlertProber)

    async def main() -> None:
        before = await probe.sample()
        assert before.ok and before.value == 0
        rx.record(parse_payload(json.dumps(payload()).encode(), 1.0))
        during = await probe.sample()
        assert not during.ok and during.value == 1 and during.detail == "firing: SuccessRateDrop"
        rx.record(parse_payload(json.dumps(payload(status="resolved")).encode(), 2.0))
        assert (await probe.sample()).ok
        await probe.close()

    asyncio.run(main())


def test_alert_probe_needs_receiver() -> None:
    with pytest.raises(ValueError):
        build_probe(
            AlertModel.model_validate({"type": "alert", "name": "a"}), run_id="r", receiver=None
        )
