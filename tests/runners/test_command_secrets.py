"""Secret references in a command fault: filled in when it runs, written down nowhere.

Real drills through the CLI against the toy target (tests/architecture/toy_target.py). The
command writes the resolved secret to a file outside the run directory (proof it was
substituted); nothing in the run directory, nor the console, may hold it. The journal keeps
the reference, so `gameday recover` reads the secret again when it re-runs an undo.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from gameday.cli import main
from gameday.runners.recover import cmd_recover
from gameday.scenarios.model import CommandFault
from gameday.scenarios.references import Resolver
from gameday.targets.local import LocalDriver

from ..architecture.toy_target import toy_registered
from ..conftest import REPO

pytestmark = pytest.mark.slow

toy = pytest.fixture(toy_registered, name="toy")

ENV = "GAMEDAY_TEST_SECRET"


def sh(script: str) -> str:
    return json.dumps(["sh", "-c", script])  # a YAML flow sequence: no quoting surprises


def scenario(tmp: Path, fault: str) -> Path:
    path = tmp / "drill" / "secret.yaml"
    path.parent.mkdir()
    path.write_text(
        f"""\
apiVersion: gameday/v1
kind: Scenario
name: command-secret
target:
  type: toy
objectives:
  recovery_time: 30s
steady_state:
  stable_for: 1s
  probes:
    - name: web
      type: http
      url: "{{{{ target.url }}}}/"
      every: 100ms
      timeout: 1s
faults:
  - name: with-secret
    action: command
    at: 200ms
{fault}
""",
        encoding="utf-8",
    )
    return path


def run(tmp: Path, path: Path) -> tuple[int, Path]:
    code = main(["run", "--ci", "--report-dir", str(tmp / "reports"), str(path)])
    return code, next(p for p in (tmp / "reports").iterdir() if p.is_dir())


def leaks(run_dir: Path, *values: str) -> list[str]:
    """Files of the run directory holding any of `values`."""
    return [
        str(path)
        for path in sorted(run_dir.rglob("*"))
        if path.is_file() and any(v.encode() in path.read_bytes() for v in values)
    ]


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"s3cr3t-{secrets.token_hex(8)}"
    monkeypatch.setenv(ENV, value)
    return value


def test_run_and_undo_substitute_the_secret_and_no_output_holds_it(
    toy: None, tmp_path: Path, secret: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ran, undone = tmp_path / "ran", tmp_path / "undone"
    fault = f"""\
    duration: 500ms
    run: {sh(f"echo $HOME ${{env:{ENV}}} {{{{ drill.name }}}} > {ran}; echo printed ${{env:{ENV}}}")}
    undo: {sh(f"echo ${{env:{ENV}}} > {undone}")}
"""
    code, run_dir = run(tmp_path, scenario(tmp_path, fault))
    out = capsys.readouterr()
    assert code == 0, out.out
    # substituted (variables too): the command saw the value, the shell expanded its own $HOME
    assert ran.read_text().split() == [str(Path.home()), secret, "command-secret"]
    assert undone.read_text().strip() == secret
    # ... and written down nowhere: journal, report.json/html/md, junit, scenario copy, console
    assert {"journal.jsonl", "report.json", "report.md", "junit.xml", "scenario.yaml"} <= {
        p.name for p in run_dir.iterdir()
    }
    assert leaks(run_dir, secret) == []
    assert secret not in out.out + out.err
    # the record keeps the reference, and what the command printed, redacted
    assert f"${{env:{ENV}}}" in (run_dir / "journal.jsonl").read_text()
    assert f"${{env:{ENV}}}" in (run_dir / "scenario.yaml").read_text()
    assert "printed ***" in (run_dir / "report.json").read_text()


def test_recover_resolves_the_undo_again_from_the_journal(
    toy: None,
    tmp_path: Path,
    secret: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocker, undone = tmp_path / "blocker", tmp_path / "undone"
    blocker.touch()
    # a secret file next to the scenario, named relative to it; the drill and recover run
    # from another directory
    file_secret = f"f1le-{secrets.token_hex(8)}"
    token = tmp_path / "drill" / "token.txt"
    undo = (
        f"test ! -e {blocker} || {{ echo blocked ${{env:{ENV}}} >&2; exit 1; }}; "
        f"echo ${{env:{ENV}}} ${{file:token.txt}} > {undone}"
    )
    path = scenario(tmp_path, f"    run: {sh('true')}\n    undo: {sh(undo)}\n")
    token.write_text(file_secret + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, run_dir = run(tmp_path, path)
    out = capsys.readouterr()
    assert code == 4, out.out  # the undo could not run: the drill says so
    journal = run_dir / "journal.jsonl"
    assert leaks(run_dir, secret, file_secret) == []
    assert secret not in out.out + out.err
    report = json.loads((run_dir / "report.json").read_text())
    assert "blocked ***" in report["unreverted"][0]["error"]
    assert not undone.exists()

    blocker.unlink()  # the operator fixes the cause; recover runs in a shell without the secret
    monkeypatch.delenv(ENV)
    assert cmd_recover(journal, True) == 4
    out = capsys.readouterr()
    assert f"environment variable {ENV} is not set" in out.out
    assert not undone.exists(), "nothing runs with a secret missing"

    # with the secret back (rotated since the drill): recover reads it again, now
    rotated = f"r0tated-{secrets.token_hex(8)}"
    monkeypatch.setenv(ENV, rotated)
    monkeypatch.chdir(REPO)
    assert cmd_recover(journal, True) == 0
    out = capsys.readouterr()
    assert undone.read_text().split() == [rotated, file_secret]
    assert rotated not in out.out + out.err
    assert leaks(run_dir, secret, rotated, file_secret) == []


def test_a_missing_secret_refuses_the_run_before_anything_runs(
    toy: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    ran = tmp_path / "ran"
    fault = f"    run: {sh(f'touch {ran}')}\n    undo: {sh(f'echo ${{env:{ENV}}}')}\n"
    code = main(
        ["run", "--ci", "--report-dir", str(tmp_path / "reports"), str(scenario(tmp_path, fault))]
    )
    assert code == 2
    assert f"{ENV} is not set" in capsys.readouterr().err
    assert not ran.exists()


def test_the_journaled_plan_holds_references_never_values(tmp_path: Path) -> None:
    resolver = Resolver(
        {"target.db_dsn": "postgresql://app:pw-123@db/app", "target.url": "http://127.0.0.1:1"},
        base_dir=tmp_path,
    )
    resolver.secrets.add("pw-123")  # the target's own secret, as its driver declares it
    run = ["psql", "{{ target.db_dsn }}", "{{ target.url }}", "${env:X}", "${file:token.txt}"]
    fault = CommandFault(action="command", run=run, undo=["${file:/abs/undo.txt}"])
    plan = LocalDriver(resolver=resolver).plan(fault)
    # plain variables are filled in; one holding a secret waits for the run; a secret file
    # is anchored at the scenario's directory, so recover can read it from anywhere
    assert plan.detail["run"] == [
        "psql",
        "{{ target.db_dsn }}",
        "http://127.0.0.1:1",
        "${env:X}",
        f"${{file:{tmp_path.resolve() / 'token.txt'}}}",
    ]
    assert plan.undo["argv"] == ["${file:/abs/undo.txt}"]
