"""The CI examples gate on gray-release-rollback and publish the JUnit; the console summary."""

from __future__ import annotations

import io
from pathlib import Path

import yaml
from rich.console import Console

from gameday.reports.model import Report
from gameday.reports.summary import print_summary
from tests.conftest import REPO

CI = REPO / "examples" / "ci"


def test_github_actions_workflow() -> None:
    text = (CI / "github-actions.yml").read_text()
    wf = yaml.safe_load(text)
    steps = wf["jobs"]["gray-release-drill"]["steps"]
    runs = " ".join(s.get("run", "") for s in steps)
    assert "gameday run scenarios/gray-release-rollback.yaml --ci" in runs
    assert any("junit.xml" in str(s.get("with", {})) for s in steps)
    assert (REPO / "scenarios" / "gray-release-rollback.yaml").is_file()


def test_gitlab_job() -> None:
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["gameday:gray-release"]
    assert any("gray-release-rollback.yaml --ci" in line for line in job["script"])
    assert job["artifacts"]["reports"]["junit"] == "reports/*/junit.xml"
    assert job["artifacts"]["when"] == "always"


def test_console_summary_plain(failed: Report, tmp_path: Path) -> None:
    buf = io.StringIO()
    print_summary(
        Console(file=buf, width=200, color_system=None),
        failed,
        tmp_path,
        [tmp_path / "report.html"],
    )
    text = buf.getvalue()
    assert "recovery_time" in text and "missed" in text and "verdict: failed" in text
    assert "report.html" in text and "\x1b[" not in text
