"""The pytest plugin: `pytest --gameday DIR` gives one test per objective plus the drill."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import LIBRARY, REPO

CONFTEST = """
from dataclasses import replace

import gameday.pytest_plugin as plugin
from gameday.analysis.objectives import ObjectiveResult
from tests.reports.helpers import synthetic_report


def fake(scenario, path, report_root, sign):
    # no sandbox here: every objective measured 1 s against 1 m, except availability
    results = [
        ObjectiveResult(n, "≤ 1m", 1.0, 0.25, "s", n != "availability", f"{n} reason")
        for n in plugin.objective_names(scenario)
    ]
    failed = [r for r in results if not r.passed]
    return replace(synthetic_report(), objectives=results, verdict="failed" if failed else "passed")


plugin.run_scenario = fake
"""


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            # the plugin comes in through the package's pytest11 entry point, as for a user
            "-p",
            "no:cacheprovider",
            *args,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )


def test_one_item_per_objective_and_failure_messages(tmp_path: Path) -> None:
    drills = tmp_path / "drills"
    drills.mkdir()
    shutil.copy(LIBRARY / "db-primary-crash.yaml", drills)
    shutil.copy(LIBRARY / "gray-release-rollback.yaml", drills)
    (drills / "notes.yaml").write_text("just: yaml\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    result = _pytest(tmp_path, "--gameday", "drills", "-v", "--junitxml=out.xml")
    out = result.stdout
    assert "db-primary-crash.yaml::recovery_time PASSED" in out, out
    assert "db-primary-crash.yaml::availability FAILED" in out
    assert "db-primary-crash.yaml::drill FAILED" in out
    assert "gray-release-rollback.yaml::rollback_time PASSED" in out
    assert "availability: target ≤ 1m, measured 1s (±250ms)" in out
    assert "Traceback" not in out
    assert result.returncode == 1
    assert (tmp_path / "out.xml").read_text().count("<testcase") == 10  # 5 + 3 objectives, 2 drills


def test_inert_without_the_flag(tmp_path: Path) -> None:
    shutil.copy(LIBRARY / "db-primary-crash.yaml", tmp_path)
    result = _pytest(tmp_path, ".")
    assert result.returncode == 5, result.stdout  # nothing collected


def test_invalid_scenario_is_one_failing_item(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("apiVersion: gameday/v1\nkind: Scenario\nname: x\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    result = _pytest(tmp_path, "--gameday", ".")
    assert result.returncode == 1 and "invalid scenario" in result.stdout
