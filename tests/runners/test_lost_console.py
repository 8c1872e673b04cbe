"""A console that cannot be written to never costs the revert or the record (exit 4)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

from ..architecture.toy_target import toy_cli
from .test_verdict_truth import scenario, sh

pytestmark = pytest.mark.slow


def test_a_closed_stdout_costs_neither_the_revert_nor_the_report(tmp_path: Path) -> None:
    undone = tmp_path / "undone"
    faults = f"""\
  - name: cut
    action: command
    at: 1s
    duration: 500ms
    run: {sh("true")}
    undo: {sh(f"touch {undone}")}
"""
    path = scenario(tmp_path, faults)
    reports = tmp_path / "reports"
    proc = subprocess.Popen(
        toy_cli("run", "--ci", "--report-dir", str(reports), str(path)),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()  # the title: the drill has started
    proc.stdout.close()  # `| head -1`: the reader is gone
    code = proc.wait(timeout=120)
    err = proc.stderr.read()
    assert code == 4, err
    assert "console could not be written" in err and "Traceback" not in err
    assert undone.exists()
    (report,) = reports.glob("*/report.json")
    assert json.loads(report.read_text())["verdict"] == "passed"
