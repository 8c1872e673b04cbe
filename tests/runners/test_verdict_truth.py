"""Verdicts that cannot pass wrongly: unreverted faults, retried reverts, delayed effects.

Real drills through the CLI against the toy target (tests/architecture/toy_target.py); the
faults are command faults and the steady-state probe is a command probe watching a marker
file, so what the system "suffers" is exactly what each test scripts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gameday.cli import main
from gameday.runners.journal import read_journal

from ..architecture.toy_target import toy_registered

pytestmark = pytest.mark.slow


toy = pytest.fixture(toy_registered, name="toy")


def sh(script: str) -> str:
    return json.dumps(["sh", "-c", script])  # a YAML flow sequence: no quoting surprises


def blocked_undo(blocker: Path) -> str:
    """An undo that fails while `blocker` exists (as a rejoin needing a link another fault slowed)."""
    return sh(f"test ! -e {blocker} || {{ echo 'link still slowed' >&2; exit 1; }}")


def scenario(tmp: Path, faults: str, objectives: str = "recovery_time: 30s") -> Path:
    down = tmp / "down"
    text = f"""\
apiVersion: gameday/v1
kind: Scenario
name: truth
target:
  type: toy
objectives:
  {objectives}
steady_state:
  stable_for: 1s
  probes:
    - name: marker
      type: command
      run: {json.dumps(["test", "!", "-e", str(down)])}
      every: 100ms
      timeout: 1s
faults:
{faults}
"""
    path = tmp / "truth.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run(tmp: Path, path: Path) -> tuple[int, dict[str, Any], Path]:
    code = main(["run", "--ci", "--report-dir", str(tmp / "reports"), str(path)])
    run_dir = next(p for p in (tmp / "reports").iterdir() if p.is_dir())
    return code, json.loads((run_dir / "report.json").read_text()), run_dir


def test_an_undo_that_fails_makes_the_drill_an_error(toy: None, tmp_path: Path) -> None:
    faults = f"""\
  - name: stuck
    action: command
    at: 200ms
    duration: 1s
    run: {sh("true")}
    undo: {sh("echo 'cannot undo: device busy' >&2; exit 3")}
"""
    code, report, run_dir = run(tmp_path, scenario(tmp_path, faults))
    # recovery itself was fine (the marker never existed): only the failed undo says error
    assert code == 4
    assert report["verdict"] == "error" and report["exit_code"] == 4
    [left] = report["unreverted"]
    # once when its duration ended, then teardown: once more and two retries
    assert left["fault"] == "stuck" and left["attempts"] == 4
    assert "device busy" in left["error"]
    assert left["recover"] == f"gameday recover --journal {run_dir / 'journal.jsonl'}"
    assert "stuck" in report["reason"] and "gameday recover" in report["reason"]
    for name in ("report.md", "report.html", "junit.xml"):
        text = (run_dir / name).read_text()
        assert "stuck" in text and "gameday recover --journal" in text, name
    junit = (run_dir / "junit.xml").read_text()
    assert "<error" in junit
    assert read_journal(run_dir / "journal.jsonl").pending(), "the journal keeps it for recover"


def test_a_revert_that_fails_while_another_fault_holds_is_retried_after_it(
    toy: None, tmp_path: Path
) -> None:
    # `needs-link` can only be undone once `slow-link` is gone (its marker blocks the undo);
    # it was applied last, so teardown tries it first, while `slow-link` is still in force
    blocker = tmp_path / "blocker"
    faults = f"""\
  - name: slow-link
    action: command
    at: 200ms
    run: {sh(f"touch {blocker}")}
    undo: {sh(f"rm -f {blocker}")}
  - name: needs-link
    action: command
    at: 400ms
    run: {sh("true")}
    undo: {blocked_undo(blocker)}
"""
    code, report, run_dir = run(tmp_path, scenario(tmp_path, faults))
    assert code == 0 and report["unreverted"] == [], report["reason"]
    assert not read_journal(run_dir / "journal.jsonl").pending()
    failed = [e for e in report["events"] if e["kind"] == "fault.failed"]
    assert [e["name"] for e in failed] == ["needs-link"]
    assert "link still slowed" in failed[0]["detail"]["error"]
    reverted = [e["name"] for e in report["events"] if e["kind"] == "fault.reverted"]
    assert reverted == ["slow-link", "needs-link"]
    assert report["verdict"] == "passed"


def test_a_revert_that_never_succeeds_is_named_not_passed(toy: None, tmp_path: Path) -> None:
    # negative control of the retry: the blocker is never removed
    blocker = tmp_path / "blocker"
    faults = f"""\
  - name: needs-link
    action: command
    at: 200ms
    run: {sh(f"touch {blocker}")}
    undo: {blocked_undo(blocker)}
"""
    code, report, _ = run(tmp_path, scenario(tmp_path, faults))
    assert code == 4 and report["verdict"] == "error"
    assert [u["fault"] for u in report["unreverted"]] == ["needs-link"]


def test_an_aborted_drill_leaves_what_it_never_reached_unjudged(toy: None, tmp_path: Path) -> None:
    down = tmp_path / "down"
    faults = f"""\
  - name: outage
    action: command
    at: 200ms
    run: {sh(f"touch {down}")}
    undo: {sh(f"rm -f {down}")}
guardrails:
  max_duration: 5s
manual_steps:
  - name: page-dba
    deadline: 10m
    optional: true
  - name: announce
    deadline: 1s
    optional: true
"""
    code, report, run_dir = run(
        tmp_path,
        scenario(tmp_path, faults, "{recovery_time: 15m, failover_time: 2m, data_loss: 0}"),
    )
    assert code == 3 and report["verdict"] == "aborted"
    outcome = {o["name"]: o["outcome"] for o in report["objectives"]}
    # the data-loss read-back never happened: unknown, not lost
    assert outcome["data_loss"] == "not judged"
    steps = {m["name"]: m["met"] for m in report["manual_steps"]}
    # page-dba's deadline (10 m) never came; announce's (1 s) came and went
    assert steps == {"page-dba": None, "announce": False}
    html = (run_dir / "report.html").read_text()
    assert "not judged" in html
    # nothing that was never judged becomes a finding or a deviation
    assert not any("data_loss" in d for d in report["deviations"])


LOCUSTFILE = """\
from locust import HttpUser, constant, task


class Browse(HttpUser):
    wait_time = constant(0.05)

    @task
    def index(self):
        self.client.get("/")
"""


@pytest.mark.parametrize("kill", [True, False], ids=["traffic-killed", "control"])
def test_blind_is_not_healthy(toy: None, tmp_path: Path, kill: bool) -> None:
    users = tmp_path / "browse_users.py"
    users.write_text(LOCUSTFILE, encoding="utf-8")
    # SIGKILL this drill's Locust (found by its unique locustfile path) right after injection
    run_ = ["pkill", "--signal", "KILL", "-f", str(users)] if kill else ["true"]
    faults = f"""\
  - name: blindfold
    action: command
    at: 200ms
    duration: 2s
    run: {json.dumps(run_)}
    undo: ["true"]
traffic:
  users: 2
  locustfile: {users}
"""
    code, report, _ = run(tmp_path, scenario(tmp_path, faults, "availability: 90%"))
    availability = next(o for o in report["objectives"] if o["name"] == "availability")
    lost = [e for e in report["events"] if e["kind"] == "measurement.lost"]
    if kill:
        assert availability["outcome"] == "not judged"
        assert availability["reason"].startswith("not judged: traffic stopped at +")
        assert lost and lost[0]["name"] == "traffic"
        assert code == 4 and report["verdict"] == "error"
    else:
        assert availability["outcome"] == "met" and not lost
        assert code == 0 and report["verdict"] == "passed"


def test_recover_names_what_it_could_not_revert_then_finishes_once_fixed(
    toy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gameday.runners.recover import cmd_recover

    blocker = tmp_path / "blocker"
    faults = f"""\
  - name: needs-link
    action: command
    at: 200ms
    run: {sh(f"touch {blocker}")}
    undo: {blocked_undo(blocker)}
"""
    code, _, run_dir = run(tmp_path, scenario(tmp_path, faults))
    assert code == 4
    journal = run_dir / "journal.jsonl"
    capsys.readouterr()
    # the drill ran in this process, which is still alive: --force
    assert cmd_recover(journal, True) == 4
    out = capsys.readouterr().out
    assert "needs-link (command)" in out and "link still slowed" in out
    assert f"gameday recover --journal {journal}" in out
    blocker.unlink()  # the operator fixes the cause
    assert cmd_recover(journal, True) == 0
    assert not read_journal(journal).pending()


def _milestone(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in report["milestones"] if m["name"] == name)


def test_a_delayed_effect_is_measured_from_its_impact(toy: None, tmp_path: Path) -> None:
    # the fault "strikes" at once but its effect starts 5 s later (as a lease expiring), and
    # lasts until the fault is reverted at 8 s
    down = tmp_path / "down"
    faults = f"""\
  - name: lease-expiry
    action: command
    at: 200ms
    duration: 8s
    run: {sh(f"(sleep 5; touch {down}) >/dev/null 2>&1 &")}
    undo: {sh(f"sleep 0.5; rm -f {down}")}
"""
    code, report, _ = run(tmp_path, scenario(tmp_path, faults))
    assert code == 0, report["reason"]
    injected = _milestone(report, "fault.injected")["t"]
    impact = _milestone(report, "impact.started")
    recovered = _milestone(report, "recovered")
    assert 4.5 <= impact["t"] - injected <= 6.5
    assert recovered["t"] > impact["t"], "never recovered before the impact"
    recovery = next(o for o in report["objectives"] if o["name"] == "recovery_time")
    # the marker goes away 8.5 s after injection: measured from the impact's end, with the
    # truth inside the stated bound
    assert abs(recovery["measured"] - 8.5) <= recovery["error"] + 0.3
    assert recovery["error"] < 0.3


@pytest.mark.parametrize("settle", ["6s", None], ids=["settle", "no-settle"])
def test_settle_keeps_observing_a_fault_without_duration(
    toy: None, tmp_path: Path, settle: str | None
) -> None:
    # the effect comes 3 s after injection and heals itself 2 s later
    down = tmp_path / "down"
    faults = f"""\
  - name: delayed
    action: command
    at: 200ms
    run: {sh(f"(sleep 3; touch {down}; sleep 2; rm -f {down}) >/dev/null 2>&1 &")}
    undo: {sh(f"rm -f {down}")}
""" + (f"    settle: {settle}\n" if settle else "")
    code, report, _ = run(tmp_path, scenario(tmp_path, faults))
    recovery = next(o for o in report["objectives"] if o["name"] == "recovery_time")
    if settle:
        assert code == 0 and recovery["measured"] is not None
        assert abs(recovery["measured"] - 5.0) <= recovery["error"] + 0.3
    else:
        # negative control: without settle the drill confirms recovery before the effect
        # ever shows, and says it saw no impact (a finding), never a recovery time
        assert recovery["measured"] is None
        assert "no impact observed" in recovery["reason"]
