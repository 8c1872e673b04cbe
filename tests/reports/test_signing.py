"""Signatures: DSSE/in-toto form, hash-chained timeline, and tamper detection naming what changed."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gameday.reports.chain import chain_head, chain_links
from gameday.reports.render import ENVELOPE, SUBJECTS
from gameday.reports.signing import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    keyid,
    load_public_key,
    pae,
)
from gameday.reports.verify import verify_run


def _statement(run: Path) -> dict:  # type: ignore[type-arg]
    env = json.loads((run / ENVELOPE).read_text())
    return json.loads(base64.b64decode(env["payload"]))


def test_pae_matches_the_dsse_spec_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_envelope_and_statement_are_in_the_standard_form(
    signed_run: Path, keypair: tuple[Path, Path]
) -> None:
    env = json.loads((signed_run / ENVELOPE).read_text())
    assert env["payloadType"] == PAYLOAD_TYPE == "application/vnd.in-toto+json"
    pub = load_public_key(keypair[1])
    assert env["signatures"][0]["keyid"] == keyid(pub)
    pub.verify(
        base64.b64decode(env["signatures"][0]["sig"]),
        pae(PAYLOAD_TYPE, base64.b64decode(env["payload"])),
    )
    st = _statement(signed_run)
    assert st["_type"] == STATEMENT_TYPE == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == PREDICATE_TYPE
    names = [s["name"] for s in st["subject"]]
    assert {"report.json", "report.html", "scenario.yaml", "chain.json"} <= set(names)
    assert all(len(s["digest"]["sha256"]) == 64 for s in st["subject"])
    pred = st["predicate"]
    assert pred["verdict"] == "passed" and len(pred["objectives"]) == 5
    events = json.loads((signed_run / "report.json").read_text())["events"]
    assert pred["timeline"]["head"] == chain_head(events) and pred["timeline"]["events"] == len(
        events
    )


def test_chain_links_depend_on_every_previous_event() -> None:
    events = [{"t": 1.0, "kind": "phase", "name": "a"}, {"t": 2.0, "kind": "phase", "name": "b"}]
    changed = [{"t": 1.5, "kind": "phase", "name": "a"}, events[1]]
    assert chain_links(events)[1] != chain_links(changed)[1]


def test_html_shows_the_key_fingerprint(signed_run: Path, keypair: tuple[Path, Path]) -> None:
    assert keyid(load_public_key(keypair[1])) in (signed_run / "report.html").read_text()


def test_untouched_report_verifies(signed_run: Path, keypair: tuple[Path, Path]) -> None:
    result = verify_run(signed_run, load_public_key(keypair[1]))
    assert result.ok, result.problems
    assert verify_run(signed_run).ok  # with the shipped signing.pub


def test_wrong_key_fails(signed_run: Path) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    result = verify_run(signed_run, other)
    assert not result.ok and "no signature by key" in result.problems[0]


def _flip(path: Path, pos: int) -> None:
    data = bytearray(path.read_bytes())
    data[pos] = data[pos] ^ 0x01 if data[pos] not in (0x0A,) else 0x20
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", [*SUBJECTS, ENVELOPE])
def test_any_changed_byte_fails(
    signed_template: Path, tmp_path: Path, keypair: tuple[Path, Path], name: str
) -> None:
    import shutil

    pub = load_public_key(keypair[1])
    size = (signed_template / name).stat().st_size
    rng = random.Random(name)
    positions = sorted({0, size - 1, *rng.sample(range(size), min(size, 60))})
    for pos in positions:
        run = tmp_path / f"{name}-{pos}"
        shutil.copytree(signed_template, run)
        _flip(run / name, pos)
        result = verify_run(run, pub)
        assert not result.ok, f"flipping byte {pos} of {name} went unnoticed"


def test_every_byte_of_the_envelope(
    signed_template: Path, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    pub = load_public_key(keypair[1])
    original = (signed_template / ENVELOPE).read_bytes()
    run = tmp_path / "run"
    import shutil

    shutil.copytree(signed_template, run)
    for pos in range(len(original)):
        data = bytearray(original)
        data[pos] ^= 0x01
        (run / ENVELOPE).write_bytes(bytes(data))
        assert not verify_run(run, pub).ok, f"byte {pos} of the envelope"


def test_messages_name_what_changed(signed_run: Path, keypair: tuple[Path, Path]) -> None:
    pub = load_public_key(keypair[1])
    report = signed_run / "report.json"
    text = report.read_text()
    report.write_text(text.replace('"verdict":"passed"', '"verdict":"failed"'))
    problems = " | ".join(verify_run(signed_run, pub).problems)
    assert "section 'verdict'" in problems and "verdict in report.json is 'failed'" in problems

    report.write_text(text.replace('"name":"SuccessRateDrop"', '"name":"SuccessRateDrip"', 1))
    problems = " | ".join(verify_run(signed_run, pub).problems)
    assert "section 'events'" in problems and "timeline event #" in problems
    assert "hash chain broken" in problems

    report.write_text(text.replace("{", "{ ", 1))
    assert "formatting only" in verify_run(signed_run, pub).problems[0]

    report.write_text(text[:-10])
    assert "no longer valid JSON" in verify_run(signed_run, pub).problems[0]

    report.write_text(text)
    html = signed_run / "report.html"
    html.write_text(html.read_text().replace("823ms (±543ms)", "623ms (±543ms)", 1))
    assert (
        "report.html differs from the signed file: line" in verify_run(signed_run, pub).problems[0]
    )


def test_missing_subject_fails(signed_run: Path) -> None:
    (signed_run / "report.html").unlink()
    assert "report.html is missing" in verify_run(signed_run).problems


def test_unsigned_report_is_reported_as_such(failed_run: Path) -> None:
    result = verify_run(failed_run)
    assert not result.ok and "not signed" in result.problems[0]
