"""Signatures: DSSE/in-toto form, hash-chained timeline, and tamper detection naming what changed."""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gameday.reports.chain import canonical_bytes, chain_head, chain_links
from gameday.reports.model import Report
from gameday.reports.render import (
    ENVELOPE,
    PUBLIC_KEY,
    SUBJECTS,
    predicate,
    read_report,
    write_renderings,
)
from gameday.reports.signing import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    dumps_envelope,
    file_digest,
    generate_keypair,
    keyid,
    load_private_key,
    load_public_key,
    pae,
    sign_envelope,
    statement,
)
from gameday.reports.trust import TRUST_ENV, default_trust_dir
from gameday.reports.verify import verify_run
from gameday.runners.journal import Journal


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


def test_wrong_key_fails(signed_run: Path) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    result = verify_run(signed_run, other)
    assert not result.ok and "no signature by key" in result.problems[0]


def _flip(path: Path, pos: int) -> None:
    data = bytearray(path.read_bytes())
    data[pos] = data[pos] ^ 0x01 if data[pos] not in (0x0A,) else 0x20
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", [*SUBJECTS, ENVELOPE, "journal.jsonl", PUBLIC_KEY])
def test_any_changed_byte_fails(
    signed_template: Path, tmp_path: Path, keypair: tuple[Path, Path], name: str
) -> None:
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

    report.write_text("[]\n")
    assert verify_run(signed_run, pub).problems == ["report.json is no longer a JSON object"]

    report.write_text(text)
    html = signed_run / "report.html"
    html.write_text(html.read_text().replace("823ms (±543ms)", "623ms (±543ms)", 1))
    assert (
        "report.html differs from the signed file: line" in verify_run(signed_run, pub).problems[0]
    )


def test_missing_subject_fails(signed_run: Path, keypair: tuple[Path, Path]) -> None:
    (signed_run / "report.html").unlink()
    assert "report.html is missing" in verify_run(signed_run, load_public_key(keypair[1])).problems


def test_unsigned_report_is_reported_as_such(failed_run: Path) -> None:
    result = verify_run(failed_run)
    assert not result.ok and "not signed" in result.problems[0]


# --------------------------------------------------------------------------- every file


def test_the_statement_lists_every_file_in_the_run_directory(
    signed_template: Path, tmp_path: Path, keypair: tuple[Path, Path], real: Report
) -> None:
    run = tmp_path / "run"
    shutil.copytree(signed_template, run)
    for name in (ENVELOPE, PUBLIC_KEY):
        (run / name).unlink()
    (run / "traffic").mkdir()
    (run / "traffic" / "windows.jsonl").write_text('{"t": 1}\n', encoding="utf-8")
    write_renderings(real, run, formats={"html"}, sign_key=keypair[0])
    listed = {s["name"]: s["digest"]["sha256"] for s in _statement(run)["subject"]}
    on_disk = {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {ENVELOPE}
    assert {"journal.jsonl", PUBLIC_KEY, "traffic/windows.jsonl"} <= set(listed)
    assert all(listed[n] == file_digest(run / n) for n in listed)
    assert verify_run(run, load_public_key(keypair[1])).ok


def _problems(run: Path, keypair: tuple[Path, Path]) -> list[str]:
    result = verify_run(run, load_public_key(keypair[1]))
    assert not result.ok
    return result.problems


def _journal_lines(run: Path) -> list[str]:
    return (run / "journal.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)


def test_an_edited_journal_line_fails_naming_the_journal(
    signed_run: Path, keypair: tuple[Path, Path]
) -> None:
    lines = _journal_lines(signed_run)
    i = next(i for i, line in enumerate(lines) if '"kind":"fault.reverted"' in line)
    lines[i] = lines[i].replace('"by":"runner"', '"by":"recover"')
    (signed_run / "journal.jsonl").write_text("".join(lines), encoding="utf-8")
    assert [p for p in _problems(signed_run, keypair) if p.startswith("journal.jsonl differs")]


def test_a_deleted_journal_line_fails_naming_the_journal(
    signed_run: Path, keypair: tuple[Path, Path]
) -> None:
    lines = [x for x in _journal_lines(signed_run) if '"kind":"fault.reverted"' not in x]
    (signed_run / "journal.jsonl").write_text("".join(lines), encoding="utf-8")
    problems = _problems(signed_run, keypair)
    assert len(problems) == 1 and problems[0].startswith("journal.jsonl differs from the signed")


def test_records_appended_to_the_journal_after_signing_are_named(
    signed_run: Path, keypair: tuple[Path, Path], tmp_path: Path
) -> None:
    signed_size = (signed_run / "journal.jsonl").stat().st_size
    # what `gameday recover` does to the journal of a drill that left a fault applied
    with Journal.open(signed_run, index_dir=tmp_path / "index", hold=False) as journal:
        journal.fault_reverted("p2-crash-db-primary", {"restarted": True}, by="recover")
        journal.drill_recovered(os.getpid(), ["p2-crash-db-primary"])
    added = (signed_run / "journal.jsonl").stat().st_size - signed_size
    assert _problems(signed_run, keypair) == [
        f"journal.jsonl has {added} bytes appended after signing: 2 records "
        f"(fault.reverted, drill.recovered); the first {signed_size} bytes are as signed"
    ]


@pytest.mark.parametrize("name", ["journal.jsonl", "scenario.yaml", PUBLIC_KEY])
def test_a_missing_file_fails_naming_it(
    signed_run: Path, keypair: tuple[Path, Path], name: str
) -> None:
    (signed_run / name).unlink()
    assert _problems(signed_run, keypair) == [f"{name} is missing"]


@pytest.mark.parametrize("name", ["notes.txt", "evidence/extra.jsonl", ".hidden"])
def test_an_unexpected_file_fails_naming_it(
    signed_run: Path, keypair: tuple[Path, Path], name: str
) -> None:
    (signed_run / name).parent.mkdir(exist_ok=True)
    (signed_run / name).write_text("added after the drill\n", encoding="utf-8")
    assert _problems(signed_run, keypair) == [
        f"{name} is an unexpected file: not in the signed statement"
    ]


def test_an_unexpected_link_fails_and_a_replaced_file_is_named(
    signed_run: Path, keypair: tuple[Path, Path]
) -> None:
    (signed_run / "elsewhere").symlink_to("/", target_is_directory=True)
    (signed_run / "report.md").unlink()
    (signed_run / "report.md").mkdir()
    assert _problems(signed_run, keypair) == [
        "report.md is no longer a regular file",
        "elsewhere is an unexpected file: not in the signed statement",
    ]


# --------------------------------------------------------------------------- trust


def _resign(run: Path, report: Report, key: Path) -> None:
    """What a forger does: edit the journal, then sign everything again with their own key."""
    lines = [x for x in _journal_lines(run) if '"kind":"fault.reverted"' not in x]
    (run / "journal.jsonl").write_text("".join(lines), encoding="utf-8")
    for name in (ENVELOPE, PUBLIC_KEY):
        (run / name).unlink()
    write_renderings(report, run, formats={"html", "markdown", "junit"}, sign_key=key)


def test_a_report_re_signed_by_another_key_is_not_trusted(
    signed_run: Path,
    tmp_path: Path,
    keypair: tuple[Path, Path],
    real: Report,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forger = generate_keypair(tmp_path / "forger.key")
    _resign(signed_run, real, forger[0])
    forger_id = keyid(load_public_key(forger[1]))
    home = default_trust_dir()
    assert verify_run(signed_run).problems == [
        f"signature is valid but the signer {forger_id} is not trusted: "
        f"pass --key or add the key to {home}"
    ]
    # the auditor's own key in the trust list does not make the forger's trusted
    monkeypatch.setenv(TRUST_ENV, str(keypair[1]))
    assert "is not trusted" in verify_run(signed_run).problems[0]
    assert "no signature by key" in verify_run(signed_run, load_public_key(keypair[1])).problems[0]
    # whoever trusts the forger's key (a file, a directory of keys, the default directory)
    monkeypatch.setenv(TRUST_ENV, os.pathsep.join([str(keypair[1]), str(forger[1])]))
    assert verify_run(signed_run).ok
    keys = tmp_path / "keys"
    keys.mkdir()
    shutil.copy(forger[1], keys / "forger.pub")
    monkeypatch.setenv(TRUST_ENV, str(keys))
    assert verify_run(signed_run).ok
    monkeypatch.delenv(TRUST_ENV)
    assert not verify_run(signed_run).ok
    home.mkdir(parents=True)
    shutil.copy(forger[1], home / "forger.pem")
    assert verify_run(signed_run).ok


def test_a_trusted_signer_verifies_without_key(
    signed_run: Path, keypair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not verify_run(signed_run).ok  # the shipped signing.pub is no proof of who signed
    monkeypatch.setenv(TRUST_ENV, str(keypair[1]))
    result = verify_run(signed_run)
    assert result.ok, result.problems
    assert f"the signer {keyid(load_public_key(keypair[1]))} is trusted ({keypair[1]})" in (
        result.notes
    )


def test_an_untrusted_signer_without_a_shipped_key_cannot_be_checked(signed_run: Path) -> None:
    (signed_run / PUBLIC_KEY).unlink()
    (problem,) = verify_run(signed_run).problems
    assert "is not trusted and its signature cannot be checked: pass --key" in problem


# --------------------------------------------------------------------------- older format


def _sign_in_the_older_format(run: Path, key: Path, **extra: object) -> None:
    """Sign as gameday did before every file was covered: the report files only."""
    data, stored = read_report(run)
    chain = json.loads((run / "chain.json").read_text(encoding="utf-8"))
    subjects = [(n, file_digest(run / n)) for n in SUBJECTS if (run / n).is_file()]
    payload = canonical_bytes(statement(subjects, {**predicate(data, stored, chain), **extra}))
    envelope = sign_envelope(payload, load_private_key(key))
    (run / ENVELOPE).write_text(dumps_envelope(envelope), encoding="utf-8")


def test_an_older_signature_checks_what_it_lists_and_names_the_unsigned_files(
    signed_run: Path, keypair: tuple[Path, Path]
) -> None:
    _sign_in_the_older_format(signed_run, keypair[0])
    assert "journal.jsonl" not in {s["name"] for s in _statement(signed_run)["subject"]}
    assert _problems(signed_run, keypair) == [
        "signed in the older format, which covers only the report files: journal.jsonl unsigned"
    ]
    md = signed_run / "report.md"
    md.write_text(md.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    (signed_run / "scenario.yaml").unlink()  # the older format recorded its digest only
    problems = _problems(signed_run, keypair)
    assert len(problems) == 2 and problems[0].startswith("report.md differs from the signed")


@pytest.mark.parametrize(
    "extra", [{"recordedOnly": 5}, {"timeline": "head"}, {"scenario": []}], ids=str
)
def test_a_malformed_statement_is_named_without_a_traceback(
    signed_run: Path, keypair: tuple[Path, Path], extra: dict[str, object]
) -> None:
    _sign_in_the_older_format(signed_run, keypair[0], **extra)
    assert _problems(signed_run, keypair) == [
        "the signed payload is not a gameday drill-result in-toto Statement"
    ]
