"""A locustfile is run as Python: it must be a .py file that exists, said at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday.scenarios.loader import load_scenario
from gameday.scenarios.problems import ScenarioError

SCENARIO = """\
apiVersion: gameday/v1
kind: Scenario
name: lf
target: {{type: sandbox}}
objectives: {{recovery_time: 1m}}
traffic:
  locustfile: {locustfile}
  users: 2
steady_state:
  probes: [{{name: pay, type: http, url: "{{{{ target.url }}}}/health"}}]
faults: [{{action: crash, service: api-a, at: 1s}}]
"""


def write(tmp_path: Path, locustfile: str) -> Path:
    path = tmp_path / "lf.yaml"
    path.write_text(SCENARIO.format(locustfile=locustfile), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("locustfile", "expected"),
    [
        ("../../../../etc/passwd", "expected a Python file (.py)"),
        ("missing.py", "no such file"),
    ],
)
def test_a_locustfile_that_is_not_a_python_file_is_refused(
    tmp_path: Path, locustfile: str, expected: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, locustfile))
    (problem,) = info.value.problems
    assert problem.field == "traffic.locustfile" and problem.line == 7
    assert expected in problem.message


def test_a_locustfile_beside_the_scenario_loads(tmp_path: Path) -> None:
    (tmp_path / "load").mkdir()
    (tmp_path / "load" / "mine.py").write_text("from locust import HttpUser\n")
    assert load_scenario(write(tmp_path, "load/mine.py")).traffic is not None
