"""A real drill started at a wall time the test sets takes the night deadline and says why."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gameday.analysis.timeline import Clock
from gameday.reports.publish import publish
from gameday.runners.console import make_view
from gameday.runners.engine import run_drill
from gameday.runners.record import RunOptions
from gameday.scenarios.loader import load_scenario
from tests.architecture.toy_target import toy_registered

SCENARIO = """\
apiVersion: gameday/v1
kind: Scenario
name: toy-night
target:
  type: toy
objectives:
  recovery_time: 30s
steady_state:
  stable_for: 1s
  probes:
    - name: web
      type: http
      url: "{{ target.url }}/"
      every: 100ms
      timeout: 500ms
faults:
  - action: crash
    service: web
    at: 500ms
    duration: 1s
manual_steps:
  - name: first-response
    deadline: {day: 1s, night: 10m}
    optional: true
night: {from: "22:00", to: "07:00", tz: Asia/Shanghai}
"""

toy = pytest.fixture(toy_registered, name="toy")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("started", "seconds", "tier", "why", "met"),
    [
        # the drill ends long before 10 minutes: not judged
        ((15, 40), 600.0, "night", "23:40 Asia/Shanghai, in the night window", None),
        # the day's 1 s passed while the drill ran, without an acknowledgement: missed
        ((4, 0), 1.0, "day", "12:00 Asia/Shanghai, outside the night window", False),
    ],
    ids=["night", "day"],
)
def test_a_drill_takes_the_deadline_of_the_hour_it_started_in_shanghai(
    toy: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    started: tuple[int, int],
    seconds: float,
    tier: str,
    why: str,
    met: bool | None,
) -> None:
    wall = datetime(2025, 3, 14, *started, 5, tzinfo=UTC)
    monkeypatch.setattr(Clock, "start_now", classmethod(lambda cls: cls(time.monotonic(), wall)))
    path = tmp_path / "toy.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    options = RunOptions(ci=True, report_root=tmp_path / "reports", install_signal_handlers=False)
    record = run_drill(load_scenario(path), path, options, make_view(True))
    report = json.loads((publish(record).run_dir / "report.json").read_text())
    assert report["started"].startswith(wall.isoformat()[:19])
    [step] = report["manual_steps"]
    assert (step["deadline_s"], step["deadline_tier"], step["met"]) == (seconds, tier, met)
    assert step["deadline_why"] == f"drill started {why} 22:00–07:00"
