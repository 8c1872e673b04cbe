"""`deadline: {day, night}` and the `night:` window: loading, suites, and mistakes at their line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gameday.scenarios.loader import load_document, load_suite_scenarios
from gameday.scenarios.model import DayNightDeadline, Scenario, Suite
from gameday.scenarios.problems import Problem, ScenarioError
from tests.scenarios.test_loader import VALID

WriteYaml = Callable[..., Path]

STEPS = """\
manual_steps:
  - name: first-response
    deadline: {deadline}
"""


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        load_document(path)
    return info.value.problems


def test_a_day_night_deadline_and_a_night_window_load(write_yaml: WriteYaml) -> None:
    text = VALID + STEPS.format(deadline="{day: 10m, night: 15m}")
    text += 'night: {from: "23:00", to: "06:30", tz: Asia/Shanghai}\n'
    scenario = load_document(write_yaml(text))
    assert isinstance(scenario, Scenario) and scenario.night is not None
    tiers = DayNightDeadline.model_validate({"day": "10m", "night": "15m"})
    assert scenario.manual_steps[0].deadline == tiers
    assert (scenario.night.from_, scenario.night.to, scenario.night.tz) == (
        "23:00",
        "06:30",
        "Asia/Shanghai",
    )
    plain = load_document(write_yaml(VALID + STEPS.format(deadline="5m"), "plain.yaml"))
    assert isinstance(plain, Scenario) and plain.manual_steps[0].deadline == 300.0


@pytest.mark.parametrize(
    ("deadline", "night", "field", "message"),
    [
        ("{day: 10m, nite: 15m}", "", "manual_steps[0].deadline.nite", "did you mean 'night'"),
        ("{day: 10m}", "", "manual_steps[0].deadline.night", "required field is missing"),
        ("{day: 10, night: 15m}", "", "manual_steps[0].deadline.day", "a bare number"),
        ("10", "", "manual_steps[0].deadline", "a bare number"),
        ("5m", "night: {tz: Asia/Shangai}\n", "night.tz", "unknown time zone 'Asia/Shangai'"),
        ("5m", 'night: {from: "24:00"}\n', "night.from", "a time of day written HH:MM"),
        ("5m", 'night: {from: "07:00", to: "07:00"}\n', "night", "is empty"),
    ],
)
def test_a_mistake_is_reported_at_its_line(
    write_yaml: WriteYaml, deadline: str, night: str, field: str, message: str
) -> None:
    text = VALID + STEPS.format(deadline=deadline) + night
    problems = problems_of(write_yaml(text))
    # a misspelt key also leaves the right one missing; nothing else is reported
    assert len(problems) <= 2, problems
    [problem] = [p for p in problems if p.field == field]
    assert message in problem.message, problem
    lines = text.splitlines()
    wanted = "deadline" if field.startswith("manual_steps") else "night"
    assert lines[problem.line - 1].lstrip().startswith(wanted), problem


def test_a_suites_night_window_reaches_its_scenarios_that_have_none(
    write_yaml: WriteYaml,
) -> None:
    write_yaml(VALID, "one.yaml")
    own = VALID + 'night: {from: "20:00", to: "08:00", tz: Europe/Berlin}\n'
    write_yaml(own.replace("name: minimal", "name: own"), "two.yaml")
    suite_path = write_yaml(
        "apiVersion: gameday/v1\nkind: Suite\nname: q\nscenarios: [one.yaml, two.yaml]\n"
        "night: {tz: Asia/Shanghai}\n"
        "manual_steps:\n  - name: first-response\n    deadline: {day: 10m, night: 15m}\n",
        "suite.yaml",
    )
    suite = load_document(suite_path)
    assert isinstance(suite, Suite)
    (_, one), (_, two) = load_suite_scenarios(suite, suite_path)
    assert one.night is not None and one.night.tz == "Asia/Shanghai"
    assert (one.night.from_, one.night.to) == ("22:00", "07:00")  # the defaults
    assert two.night is not None and two.night.tz == "Europe/Berlin"  # its own wins
