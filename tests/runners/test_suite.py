"""A suite is one drill session: one stop ends it, and it writes a record of its own.

Real suites of real drills against the toy target (tests/architecture/toy_target.py); the
faults are command faults that touch files, so what each scenario did is on disk to see.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gameday.cli import main
from tests.conftest import REPO

from ..architecture.toy_target import toy_cli, toy_registered
from .test_verdict_truth import sh

pytestmark = pytest.mark.slow

toy = pytest.fixture(toy_registered, name="toy")

AUDIT = """\
audit:
  drill_type: functional
  scope: payment platform, both sites
  controls: [NIST 800-53 CP-4, SOC 2 A1.3]
"""


def write_scenario(
    tmp: Path,
    name: str,
    *,
    duration: str = "500ms",
    recovery: str = "30s",
    down: bool = False,
    applying: str = "0",
) -> str:
    """A toy scenario whose one fault touches `<name>-applied` and, undone, `<name>-undone`.

    With ``down`` the fault also takes the steady state down (the marker file) until undone;
    ``applying`` is how many seconds its apply goes on after touching the file.
    """
    marker = tmp / f"{name}-down"
    run = f"touch {tmp / f'{name}-applied'}" + (f" {marker}" if down else "")
    run += f"; sleep {applying}"
    undo = f"touch {tmp / f'{name}-undone'}; rm -f {marker}"
    text = f"""\
apiVersion: gameday/v1
kind: Scenario
name: {name}
target:
  type: toy
objectives:
  recovery_time: {recovery}
steady_state:
  stable_for: 1s
  probes:
    - name: marker
      type: command
      run: {json.dumps(["test", "!", "-e", str(marker)])}
      every: 100ms
      timeout: 1s
faults:
  - name: cut
    action: command
    at: 300ms
    duration: {duration}
    run: {sh(run)}
    undo: {sh(undo)}
"""
    (tmp / f"{name}.yaml").write_text(text, encoding="utf-8")
    return f"{name}.yaml"


def write_suite(
    tmp: Path, files: list[str], *, stop_on_failure: bool = False, steps: str = ""
) -> Path:
    path = tmp / "suite.yaml"
    path.write_text(
        f"""\
apiVersion: gameday/v1
kind: Suite
name: drill-day
scenarios: {json.dumps(files)}
stop_on_failure: {str(stop_on_failure).lower()}
{steps}{AUDIT}""",
        encoding="utf-8",
    )
    return path


def suite_dir(reports: Path) -> Path:
    (directory,) = reports.glob("drill-day-*/")
    return directory


def suite_json(reports: Path) -> dict[str, Any]:
    return json.loads((suite_dir(reports) / "suite.json").read_text())


def launch(tmp: Path, *args: str) -> subprocess.Popen[str]:
    """`gameday ARGS` with the toy target registered, in a process of its own."""
    env = {**os.environ, "GAMEDAY_HOME": str(tmp / "home"), "PYTHONPATH": str(REPO)}
    log = (tmp / "console.log").open("w")
    return subprocess.Popen(
        toy_cli(*args),
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(
    path: Path, proc: subprocess.Popen[str], timeout: float = 60, containing: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or containing not in path.read_text():
        assert proc.poll() is None, f"the suite ended early: {proc.returncode}"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def first_scenario_injecting(tmp: Path, applying: str = "0") -> tuple[subprocess.Popen[str], Path]:
    """A two-scenario suite run in a process of its own, once its first fault is being applied.

    That fault stays in force a minute; the second scenario's would touch `second-applied`.
    """
    first = write_scenario(tmp, "first", duration="60s", recovery="2m", applying=applying)
    second = write_scenario(tmp, "second")
    reports = tmp / "reports"
    path = write_suite(tmp, [first, second])
    proc = launch(tmp, "run", "--ci", "--report-dir", str(reports), str(path))
    wait_for(tmp / "first-applied", proc)
    return proc, reports


def test_sigint_in_the_first_scenario_stops_the_whole_suite(tmp_path: Path) -> None:
    proc, reports = first_scenario_injecting(tmp_path)
    (journal,) = reports.glob("first-*/journal.jsonl")
    wait_for(journal, proc, containing='"fault.applied"')  # in force, not being applied
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=120)
    console = (tmp_path / "console.log").read_text()
    assert code == 3, console
    assert (tmp_path / "first-undone").exists()  # the scenario running reverted
    # ... and the second never started: no fault, no journal, no run directory
    assert not (tmp_path / "second-applied").exists(), console
    assert [p.parent.name.split("-")[0] for p in reports.glob("*/journal.jsonl")] == ["first"]
    assert {p.parent.name.split("-")[0] for p in reports.glob("*/report.json")} == {"first"}
    # the suite's record says where it stopped and why
    data = suite_json(reports)
    assert data["status"] == "aborted" and data["verdict"] == "aborted"
    assert data["exit_code"] == 3
    assert data["stopped"]["at"] == "first" and "SIGINT" in data["stopped"]["why"]
    ran, never = data["scenarios"]
    assert ran["verdict"] == "aborted" and ran["exit_code"] == 3
    assert never["status"] == "not run" and never["link"] is None
    assert never["reason"] == "not run: the suite stopped at first (interrupted by SIGINT)"
    md = (suite_dir(reports) / "suite.md").read_text()
    assert "not run: the suite stopped at first (interrupted by SIGINT)" in md
    # one closing line: the suite's verdict
    last = console.splitlines()[-1]
    assert last.startswith("verdict: aborted (exit 3) — suite drill-day, 2 scenarios, "), last
    assert last.endswith(": stopped at first: interrupted by SIGINT") and "Traceback" not in console


def test_a_stop_while_a_fault_is_being_applied_reverts_it_once_applied(tmp_path: Path) -> None:
    # Ctrl-C while the first fault's apply still runs: it used to be left in force, unreverted
    proc, reports = first_scenario_injecting(tmp_path, applying="2")
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=120)
    console = (tmp_path / "console.log").read_text()
    assert code == 3, console
    assert (tmp_path / "first-undone").exists(), console
    assert not (tmp_path / "second-applied").exists()
    (journal,) = reports.glob("first-*/journal.jsonl")
    kinds = [json.loads(line)["kind"] for line in journal.read_text().splitlines()]
    assert "fault.reverted" in kinds and "Traceback" not in console


def test_a_stop_signal_before_a_drill_starts_cancels_it_before_it_injects(
    toy: None, tmp_path: Path
) -> None:
    # a signal between two scenarios (while a report is written) is kept for the next drill
    from gameday.runners.console import make_view
    from gameday.runners.engine import run_drill
    from gameday.runners.interrupts import held_stop_signals
    from gameday.runners.record import RunOptions
    from gameday.scenarios.loader import load_scenario

    path = tmp_path / write_scenario(tmp_path, "late")
    options = RunOptions(ci=True, report_root=tmp_path / "reports")
    with held_stop_signals() as held:
        os.kill(os.getpid(), signal.SIGTERM)  # would kill the process outside a session
        record = run_drill(load_scenario(path), path, options, make_view(True))
    assert held == ["SIGTERM"]
    assert record.aborted == "interrupted by SIGTERM"
    assert not (tmp_path / "late-applied").exists()


def test_a_passing_suite_writes_its_record_and_every_scenario_carries_its_audit(
    toy: None, tmp_path: Path
) -> None:
    files = [write_scenario(tmp_path, "first"), write_scenario(tmp_path, "second")]
    reports = tmp_path / "reports"
    args = ["run", "--ci", "--report-dir", str(reports), "--participant", "Ana Silva:commander"]
    assert main([*args, str(write_suite(tmp_path, files))]) == 0
    directory = suite_dir(reports)
    data = suite_json(reports)
    assert data["status"] == "finished" and data["verdict"] == "passed"
    assert data["exit_code"] == 0 and data["stopped"] is None
    assert [e["name"] for e in data["scenarios"]] == ["first", "second"]
    for entry in data["scenarios"]:
        report = json.loads((directory / entry["link"] / "report.json").read_text())
        assert entry["verdict"] == "passed" and report["run_id"] == entry["run_id"]
        # the suite's audit block reached every scenario's report
        audit = report["scenario"]["audit"]
        assert audit["drill_type"] == "functional"
        assert audit["scope"] == "payment platform, both sites"
        assert audit["controls"] == ["NIST 800-53 CP-4", "SOC 2 A1.3"]
    assert data["participants"] == [{"name": "Ana Silva", "role": "commander"}]
    # every link of suite.md resolves; junit.xml has a test suite per scenario
    md = (directory / "suite.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", md)
    assert len(links) == 2 and all((directory / link).is_file() for link in links)
    junit = (directory / "junit.xml").read_text()
    assert junit.count("<testsuite ") == 2


def test_the_suite_exits_with_its_worst_scenario_and_stop_on_failure_stops_it(
    toy: None, tmp_path: Path
) -> None:
    # the failing scenario first: the passing one after it must not hide it
    failing = write_scenario(tmp_path, "slow", duration="2500ms", recovery="1s", down=True)
    passing = write_scenario(tmp_path, "quick")
    reports = tmp_path / "reports"
    run = ["run", "--ci", "--report-dir"]
    assert main([*run, str(reports), str(write_suite(tmp_path, [failing, passing]))]) == 1
    data = suite_json(reports)
    assert [e["verdict"] for e in data["scenarios"]] == ["failed", "passed"]
    assert data["verdict"] == "failed" and data["exit_code"] == 1
    assert data["reason"] == "1 of 2 scenarios did not pass: slow"
    # with stop_on_failure the failure is where the suite stops
    again = tmp_path / "again"
    path = write_suite(tmp_path, [failing, passing], stop_on_failure=True)
    assert main([*run, str(again), str(path)]) == 1
    data = suite_json(again)
    assert data["status"] == "finished" and data["verdict"] == "failed"
    assert data["scenarios"][1]["reason"] == (
        "not run: the suite stopped at slow (stop_on_failure: the scenario failed)"
    )


def test_a_suite_whose_runner_died_is_marked_aborted_by_recover(tmp_path: Path) -> None:
    proc, reports = first_scenario_injecting(tmp_path)
    assert suite_json(reports)["status"] == "running"
    proc.kill()
    proc.wait(timeout=30)
    (journal,) = reports.glob("first-*/journal.jsonl")
    recover = launch(tmp_path, "recover", "--journal", str(journal))
    assert recover.wait(timeout=60) == 0, (tmp_path / "console.log").read_text()
    assert (tmp_path / "first-undone").exists()
    data = suite_json(reports)
    assert data["status"] == "aborted" and data["verdict"] == "aborted"
    assert data["stopped"] == {"at": "first", "why": "aborted: runner died"}
    ran, never = data["scenarios"]
    assert ran["link"] == f"../{journal.parent.name}" and ran["verdict"] == "aborted"
    assert never["reason"] == "not run: the suite stopped at first (aborted: runner died)"
    assert "marked suite drill-day aborted: runner died" in (tmp_path / "console.log").read_text()


def test_the_manual_steps_of_every_scenario_are_on_one_timeline(tmp_path: Path) -> None:
    steps = "manual_steps:\n  - {name: declare, owner: on-call, deadline: 1m}\n"
    files = [write_scenario(tmp_path, "first"), write_scenario(tmp_path, "second")]
    reports = tmp_path / "reports"
    path = write_suite(tmp_path, files, steps=steps)
    # without --ci: each drill waits for its step, acknowledged from another process
    proc = launch(tmp_path, "run", "--report-dir", str(reports), str(path))
    for name, who in (("first", "Ana Silva"), ("second", "Bo Chen")):
        wait_for(tmp_path / f"{name}-applied", proc)
        ack = subprocess.run(
            toy_cli("ack", "declare", "--by", who),
            cwd=REPO,
            env={**os.environ, "GAMEDAY_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ack.returncode == 0, ack.stderr
    assert proc.wait(timeout=120) == 0, (tmp_path / "console.log").read_text()
    data = suite_json(reports)
    timeline = [(s["scenario"], s["step"], s["by"], s["met"]) for s in data["manual_steps"]]
    assert timeline == [
        ("first", "declare", "Ana Silva", True),
        ("second", "declare", "Bo Chen", True),
    ]
    first, second = data["manual_steps"]
    assert first["done"] < second["done"] and first["deadline"] < second["deadline"]
    assert first["done"].endswith("+00:00") and first["owner"] == "on-call"
    # who acknowledged a step took part in the drill
    assert data["participants"] == [
        {"name": "Ana Silva", "role": "acknowledged declare"},
        {"name": "Bo Chen", "role": "acknowledged declare"},
    ]
    md = (suite_dir(reports) / "suite.md").read_text()
    assert "| first | declare | on-call |" in md and "Bo Chen" in md


def test_a_guardrail_abort_stops_the_suite_even_without_stop_on_failure(
    toy: None, tmp_path: Path
) -> None:
    first = write_scenario(tmp_path, "first", duration="60s", recovery="2m")
    scenario = tmp_path / first
    scenario.write_text(scenario.read_text() + "guardrails:\n  max_duration: 4s\n")
    files = [first, write_scenario(tmp_path, "second")]
    reports = tmp_path / "reports"
    path = write_suite(tmp_path, files, stop_on_failure=False)
    assert main(["run", "--ci", "--report-dir", str(reports), str(path)]) == 3
    assert (tmp_path / "first-undone").exists()
    assert not (tmp_path / "second-applied").exists()
    data = suite_json(reports)
    assert data["verdict"] == "aborted" and data["stopped"]["at"] == "first"
    assert "max_duration" in data["stopped"]["why"]
    assert data["scenarios"][1]["status"] == "not run"


def test_what_would_refuse_a_later_scenario_refuses_the_suite_before_anything_runs(
    toy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --ci never prompts: a required manual step in the suite is refused up front, exit 2
    steps = "manual_steps:\n  - {name: declare, deadline: 1m}\n"
    files = [write_scenario(tmp_path, "first"), write_scenario(tmp_path, "second")]
    reports = tmp_path / "reports"
    path = write_suite(tmp_path, files, steps=steps)
    assert main(["run", "--ci", "--report-dir", str(reports), str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'first.yaml'}: --ci runs never prompt" in err
    assert "nothing was run." in err and "Traceback" not in err
    assert not reports.exists() and not (tmp_path / "first-applied").exists()
