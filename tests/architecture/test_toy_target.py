"""A target type registered from outside gameday/ runs real drills end to end.

The toy target (tests/architecture/toy_target.py) is its model, its driver and one
registry entry. Nothing in gameday/ names it: validation, the engine, the journal, the
lock, `recover` and the report all reach it through the registry.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gameday.cli import main
from gameday.runners.console import make_view
from gameday.runners.engine import run_drill
from gameday.runners.journal import read_journal
from gameday.runners.record import RunOptions
from gameday.scenarios.loader import load_scenario
from gameday.scenarios.problems import ScenarioError
from gameday.targets import registry

from .toy_target import ToyDriver, toy_registered

SCENARIO = """\
apiVersion: gameday/v1
kind: Scenario
name: toy-crash
target:
  type: toy
objectives:
  recovery_time: {recovery}
steady_state:
  stable_for: 1s
  probes:
    - name: web
      type: http
      url: "{{{{ target.url }}}}/"
      every: 100ms
      timeout: 500ms
faults:
  - action: crash
    service: web
    at: 500ms
{duration}
"""


toy = pytest.fixture(toy_registered, name="toy")


def _drill(tmp_path: Path, recovery: str, duration: str) -> tuple[dict, Path]:  # type: ignore[type-arg]
    path = tmp_path / "toy.yaml"
    path.write_text(SCENARIO.format(recovery=recovery, duration=duration), encoding="utf-8")
    scenario = load_scenario(path)
    options = RunOptions(ci=True, report_root=tmp_path / "reports", install_signal_handlers=False)
    record = run_drill(scenario, path, options, make_view(True))
    from gameday.reports.publish import publish

    published = publish(record)
    report = json.loads((published.run_dir / "report.json").read_text())
    return report, published.run_dir


@pytest.mark.slow
def test_a_registered_target_runs_a_real_drill(toy: None, tmp_path: Path) -> None:
    report, run_dir = _drill(tmp_path, "30s", "    duration: 1s")
    assert report["verdict"] == "passed", report.get("reason")
    # the fault went through the toy's driver, was journaled before it was applied, reverted
    state = read_journal(run_dir / "journal.jsonl")
    assert not state.pending()
    lines = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    kinds = [line["kind"] for line in lines]
    assert (
        kinds.index("fault.planned") < kinds.index("fault.applied") < kinds.index("fault.reverted")
    )
    planned = next(line for line in lines if line["kind"] == "fault.planned")
    assert planned["plan"]["driver"] == "toy" and planned["plan"]["action"] == "crash"
    # the probe saw the outage, and recovery is measured from it
    samples = next(p for p in report["probes"] if p["name"] == "web")["samples"]
    assert any(not s["ok"] for s in samples) and samples[-1]["ok"]
    recovery = next(o for o in report["objectives"] if o["name"] == "recovery_time")
    assert recovery["passed"] and recovery["detail"]["impacted"]
    assert 0.9 <= recovery["measured"] <= 30
    # everything the driver started is gone
    assert not any(s.poll() is None for s in ToyDriver.servers.values())
    assert (run_dir / "report.html").is_file()


@pytest.mark.slow
def test_a_toy_that_never_comes_back_fails(toy: None, tmp_path: Path) -> None:
    # negative control: the crash stays in force until teardown, so recovery never comes
    report, _ = _drill(tmp_path, "2s", "")
    assert report["verdict"] == "failed"
    assert report["exit_code"] == 1


def test_a_service_the_target_lacks_is_refused_at_preflight_with_nothing_applied(
    toy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the toy's services are known only by asking it (as Docker's and Kubernetes'): validate
    # passes, the run is refused at preflight as bad input (exit 2), not aborted (exit 3)
    path = tmp_path / "toy.yaml"
    text = SCENARIO.format(recovery="30s", duration="").replace("service: web", "service: wbe")
    path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    reports = tmp_path / "reports"
    assert main(["run", "--ci", "--report-dir", str(reports), str(path)]) == 2
    err = capsys.readouterr().err
    line = text.splitlines().index("    service: wbe") + 1
    assert f"faults[0].service (line {line}): unknown service 'wbe'; the toy has: web" in err
    assert "nothing was run" in err and "Traceback" not in err
    # nothing applied; the journal closed, the lock released, the server it started stopped
    (journal,) = reports.glob("*/journal.jsonl")
    kinds = [json.loads(line)["kind"] for line in journal.read_text().splitlines()]
    assert "fault.planned" not in kinds and "fault.applied" not in kinds
    assert kinds[-1] == "drill.finished" and not read_journal(journal).pending()
    assert not any(s.poll() is None for s in ToyDriver.servers.values())


def test_a_fault_the_target_does_not_perform_is_a_validation_error(
    toy: None, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    text = SCENARIO.format(recovery="30s", duration="").replace(
        "  - action: crash\n    service: web", "  - action: gray-release\n    version: v2"
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    problem = caught.value.problems[0]
    assert problem.field == "faults[0].action"
    assert "the toy target cannot apply 'gray-release'" in problem.message
    assert problem.line == text.splitlines().index("  - action: gray-release") + 1


def test_an_unregistered_type_is_a_validation_error(tmp_path: Path) -> None:
    path = tmp_path / "toy.yaml"
    path.write_text(SCENARIO.format(recovery="30s", duration=""), encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.problems[0].field == "target.type"
    assert "'toy'" in caught.value.problems[0].message


def test_recover_rebuilds_the_driver_from_the_registry(toy: None) -> None:
    driver = registry.target_from_spec("toy", {"port": 4})
    assert isinstance(driver, ToyDriver) and driver.port == 4
