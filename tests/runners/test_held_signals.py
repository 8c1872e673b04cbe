"""A stop signal outside a drill (while a report is written) is held, never fatal.

The runner used to fall back to the default handlers once teardown ended: a SIGTERM while
the report was written killed it mid-write (no report.json, or no renderings).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from gameday.runners.interrupts import held_stop_signals
from tests.conftest import REPO

from ..architecture.toy_target import toy_cli
from .test_verdict_truth import scenario, sh

pytestmark = pytest.mark.slow

# its publish preceded by a SIGTERM to itself: the signal lands exactly while the first
# drill's report is being written
UNDER_FIRE = """
import os, signal
from gameday.reports import publish as publishing
real = publishing.publish
def publish_under_fire(record):
    os.kill(os.getpid(), signal.SIGTERM)
    return real(record)
publishing.publish = publish_under_fire
"""

CUT = f"""\
  - name: cut
    action: command
    at: 200ms
    duration: 300ms
    run: {sh("true")}
    undo: {sh("true")}
"""


def test_a_sigterm_while_the_report_is_written_finishes_it_and_stops_the_suite(
    tmp_path: Path,
) -> None:
    first = scenario(tmp_path, CUT)
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = scenario(second_dir, CUT)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "apiVersion: gameday/v1\nkind: Suite\nname: two\nstop_on_failure: false\n"
        f"scenarios:\n  - {first.name}\n  - second/{second.name}\n",
        encoding="utf-8",
    )
    reports = tmp_path / "reports"
    done = subprocess.run(
        toy_cli("run", "--ci", "--report-dir", str(reports), str(suite), before=UNDER_FIRE),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "stopping: SIGTERM received; 1 scenario(s) not run" in done.stdout
    runs = [p for p in reports.iterdir() if p.is_dir() and (p / "journal.jsonl").exists()]
    assert len(runs) == 1, "the second scenario ran after the stop"
    report = json.loads((runs[0] / "report.json").read_text())
    assert report["verdict"] == "passed"
    assert {"report.html", "report.md", "junit.xml"} <= {p.name for p in runs[0].iterdir()}


def test_a_held_signal_is_recorded_and_the_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with held_stop_signals() as held:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGHUP)
    assert held == ["SIGTERM", "SIGHUP"]
    assert signal.getsignal(signal.SIGTERM) == before
