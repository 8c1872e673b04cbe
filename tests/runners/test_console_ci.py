"""The console in CI logs and pipes: elapsed times on every line, a summary sized for the log,
one closing verdict line; and a real suite, run through the CLI, saying what it waits for."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from gameday.cli import main
from gameday.reports.summary import print_summary
from tests.reports.helpers import synthetic_report

from ..architecture.toy_target import toy_registered

toy = pytest.fixture(toy_registered, name="toy")


def summary(width: int, **console: object) -> list[str]:
    report = synthetic_report()
    out = io.StringIO()
    log = Console(file=out, width=width, color_system=None, highlight=False, **console)  # type: ignore[arg-type]
    print_summary(log, report, Path("/reports/run"), [Path("/reports/run/report.html")])
    return out.getvalue().splitlines()


def test_a_ci_summary_never_wraps_the_why_and_closes_with_the_verdict() -> None:
    report = synthetic_report()
    lines = summary(80)  # a CI log: not a terminal, 80 columns as Rich assumes there
    for objective in report.objectives:
        if not objective.passed:
            (row,) = [line for line in lines if line.startswith(f"| {objective.name} ")]
            assert objective.reason in row  # whole, on its row
    assert lines[-1] == (
        "verdict: failed (exit 1) — site-outage, 2 m 00 s: 2 of 3 objectives failed: "
        "recovery_time, availability"
    )
    assert sum(line.startswith("verdict:") for line in lines) == 1


def test_on_a_terminal_the_summary_fits_the_window() -> None:
    lines = summary(80, force_terminal=True)
    assert all(len(line) <= 80 for line in lines[:-1])  # the reasons fold inside the table
    assert lines[-1].startswith("verdict: failed (exit 1)")


def drill(tmp: Path, name: str) -> Path:
    down = tmp / f"{name}.down"
    text = f"""\
apiVersion: gameday/v1
kind: Scenario
name: {name}
target:
  type: toy
objectives:
  recovery_time: 30s
steady_state:
  stable_for: 500ms
  probes:
    - name: marker
      type: command
      run: {json.dumps(["test", "!", "-e", str(down)])}
      every: 100ms
      timeout: 1s
manual_steps:
  - name: notify-bank
    owner: on-call
    deadline: 2500ms
faults:
  - name: cut
    action: command
    at: 200ms
    duration: 800ms
    run: {json.dumps(["touch", str(down)])}
    undo: {json.dumps(["rm", "-f", str(down)])}
"""
    path = tmp / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_piped_suite_says_where_it_is_and_what_it_waits_for(
    toy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drill(tmp_path, "first")
    drill(tmp_path, "second")
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "apiVersion: gameday/v1\nkind: Suite\nname: both\n"
        "scenarios: [first.yaml, second.yaml]\nstop_on_failure: false\n",
        encoding="utf-8",
    )
    # without --ci, output piped: the plain view, and the drill waits for its manual step
    code = main(["run", "--report-dir", str(tmp_path / "reports"), str(suite)])
    out = capsys.readouterr().out
    assert code in (0, 1), out  # ran to its end (whether a missed step fails is not asked here)
    assert "scenario 1 of 2 in the suite" in out and "scenario 2 of 2 in the suite" in out
    drill_lines = [line for line in out.splitlines() if line.startswith("[")]
    waits = [line for line in drill_lines if "waiting for: manual step notify-bank" in line]
    assert len(waits) == 2, out  # once per scenario, when the wait began
    for name in ("first", "second"):
        lines = out.split(f"gameday {name} (")[1].split(f"{name}: objectives")[0].splitlines()
        assert all(line.startswith("[") for line in lines[1:] if line), lines
    verdict = "passed" if code == 0 else "failed"
    closing = [line for line in out.splitlines() if line.startswith("verdict: ")]
    assert [line.split(" — ")[1].split(",")[0] for line in closing[:2]] == ["first", "second"]
    # ... and the suite's, last
    assert out.splitlines()[-1].startswith(f"verdict: {verdict} (exit {code}) — suite both, ")
