"""Command functions: exit codes, one-line errors for user mistakes, history across runs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from gameday.reports.audit import AuditInputError, apply_audit, findings, parse_participant
from gameday.reports.commands import cmd_history, cmd_keygen, cmd_render, cmd_verify
from gameday.reports.model import Report
from gameday.reports.render import dumps_report
from gameday.reports.trust import TRUST_ENV, default_trust_dir


def test_keygen_then_verify(
    tmp_path: Path,
    signed_run: Path,
    keypair: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cmd_keygen(tmp_path / "k") == 0
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "k.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert cmd_keygen(tmp_path / "k") == 2  # never overwrites a key
    assert cmd_verify(signed_run, keypair[1]) == 0
    assert cmd_verify(signed_run, tmp_path / "k.pub") == 1  # someone else's key
    out = capsys.readouterr().out
    assert "verified:" in out and "NOT verified" in out


def test_verify_without_a_trusted_key_says_so_and_fails(
    signed_run: Path,
    keypair: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert cmd_verify(signed_run, None) == 1
    out = capsys.readouterr().out
    assert "FAIL  signature is valid but the signer SHA256:" in out
    assert f"is not trusted: pass --key or add the key to {default_trust_dir()}" in out
    monkeypatch.setenv(TRUST_ENV, str(keypair[1]))
    assert cmd_verify(signed_run, None) == 0
    assert "is trusted" in capsys.readouterr().out


@pytest.mark.parametrize("entry", ["missing.pub", "not-a-key.pub", "keys"])
def test_a_broken_trust_list_is_bad_input(
    signed_run: Path,
    tmp_path: Path,
    entry: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "not-a-key.pub").write_text("hello\n", encoding="utf-8")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "broken.pem").write_text("-----BEGIN PUBLIC KEY-----\n", encoding="utf-8")
    monkeypatch.setenv(TRUST_ENV, str(tmp_path / entry))
    assert cmd_verify(signed_run, None) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith("error: ") and str(tmp_path / entry) in err


@pytest.mark.parametrize(
    "call",
    [
        lambda p: cmd_verify(p / "nope", None),
        lambda p: cmd_verify(p, p / "missing.pub"),
        lambda p: cmd_history(p / "nope", None),
        lambda p: cmd_history(p, None),
        lambda p: cmd_render(p, {"html"}),
        lambda p: cmd_render(p, {"pdf"}),
        lambda p: cmd_keygen(p / "no" / "dir" / "k"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], call
) -> None:  # type: ignore[no-untyped-def]
    assert call(tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]


def test_render_refuses_a_signed_report(signed_run: Path) -> None:
    assert cmd_render(signed_run, {"html"}) == 2


def test_render_writes_the_formats(failed_run: Path) -> None:
    assert cmd_render(failed_run, {"html", "markdown", "junit"}) == 0
    assert {p.name for p in failed_run.iterdir()} >= {
        "report.html",
        "report.md",
        "junit.xml",
        "chain.json",
    }


def test_history_over_four_quarters(
    tmp_path: Path, failed: Report, real: Report, capsys: pytest.CaptureFixture[str]
) -> None:
    quarters = ["2024-01-15", "2024-04-15", "2024-07-15", "2024-10-15"]
    for i, day in enumerate(quarters):
        r = real if i % 2 else failed
        r = replace(r, run_id=f"{r.scenario.name}-{i}", started=f"{day}T10:00:00+00:00")
        run = tmp_path / "reports" / f"run{i}"
        run.mkdir(parents=True)
        (run / "report.json").write_text(dumps_report(r.to_json()))
    (tmp_path / "reports" / "junk").mkdir()
    (tmp_path / "reports" / "junk" / "report.json").write_text("{}")
    index = tmp_path / "index.html"
    assert cmd_history(tmp_path / "reports", index) == 0
    out = capsys.readouterr()
    assert "site-outage (2 runs)" in out.out and "db-primary-crash (2 runs)" in out.out
    assert "recovery" in out.out and "0/2 passed" in out.out and "2/2 passed" in out.out
    assert "skipped" in out.err
    html = index.read_text()
    assert html.count('class="trend"') >= 4 and "run0/report.html" in html
    assert "<script" not in html


def test_audit_from_the_command_line_and_findings(tmp_path: Path, failed: Report) -> None:
    f = tmp_path / "findings.yaml"
    f.write_text("- {title: failover runbook outdated, owner: dba-team, due: 2024-05-01}\n")
    r = apply_audit(
        failed, approver="Head of SRE", participants=["Ana:IC", "Bo:scribe"], findings=f
    )
    data = json.loads(dumps_report(r.to_json()))
    assert data["audit"]["approver"] == "Head of SRE"
    assert Report.from_json(data).audit == r.audit
    found = findings(r)
    assert found[0]["owner"] == "dba-team" and found[0]["due"] == "2024-05-01"
    assert any(x["source"] == "objective recovery_time" for x in found)
    with pytest.raises(AuditInputError):
        parse_participant("no-role")
    f.write_text("- {title: x}\n")
    with pytest.raises(AuditInputError):
        apply_audit(failed, findings=f)
