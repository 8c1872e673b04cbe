"""Service names a scenario gives its faults are checked before anything runs.

The sandbox's services are known from its topology, so `validate`, `plan` and `run` refuse
a name it lacks at the line that names it, with a "did you mean" (exit 2).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gameday.cli import main
from gameday.scenarios.loader import load_scenario
from gameday.scenarios.services import named_services
from gameday.targets.registry import local_problems, sandbox_services
from tests.conftest import LIBRARY


def _scenario(tmp_path: Path, faults: list[dict[str, object]], name: str = "s.yaml") -> Path:
    data = yaml.safe_load((LIBRARY / "db-primary-crash.yaml").read_text(encoding="utf-8"))
    data["faults"] = faults
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _line(path: Path, needle: str) -> int:
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text)


@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_an_unknown_sandbox_service_is_refused_at_its_line_with_a_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = _scenario(tmp_path, [{"action": "crash", "service": "db-primray", "at": "5s"}])
    reports = tmp_path / "reports"
    extra = ["--ci", "--report-dir", str(reports)] if command == "run" else []
    assert main([command, *extra, str(path)]) == 2
    err = capsys.readouterr().err
    line = _line(path, "service: db-primray")
    assert f"{path}:{line}:" in err
    assert "faults[0].service: unknown service 'db-primray'; did you mean 'db-primary'?" in err
    assert "(the sandbox has: alerting, api, api-a," in err
    assert "nothing was run" in err and "Traceback" not in err
    assert not reports.exists()  # refused before a run directory, a lock or a sandbox


def test_every_place_a_fault_names_a_service_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faults: list[dict[str, object]] = [
        {"action": "partition", "between": [["site-a"], ["api-b", "db-stanby"]], "at": "5s"},
        {"action": "latency", "link": "api-a->db-primari", "delay": "100ms", "at": "5s"},
        {"action": "latency", "link": "db-primary->api-a", "delay": "100ms", "at": "5s"},
        {"action": "network-cut", "service": "site-c", "at": "5s"},
    ]
    path = _scenario(tmp_path, faults)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    expected = [
        (
            "db-stanby",
            "faults[0].between[1][1]: unknown service 'db-stanby'; did you mean 'db-standby'?",
        ),
        (
            "api-a->db-primari",
            "faults[1].link: unknown service 'db-primari'; did you mean 'db-primary'?",
        ),
        # both ends exist, but no link runs that way
        (
            "db-primary->api-a",
            "faults[2].link: no link 'db-primary->api-a' in the sandbox; "
            "did you mean 'db-primary->db-standby'?",
        ),
        ("site-c", "faults[3].service: unknown service 'site-c'; did you mean 'site-b'?"),
    ]
    for needle, message in expected:
        assert f"{path}:{_line(path, needle)}:" in err and message in err, (message, err)
    assert len(err.strip().splitlines()) == len(expected) + 1  # one line each, then the summary


def test_names_the_sandbox_knows_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # components, sites, groups and the `api` alias, on every fault that names a service
    faults: list[dict[str, object]] = [
        {"action": "network-cut", "service": "site-a", "at": "5s"},
        {"action": "partition", "between": [["apis"], ["databases"]], "at": "5s"},
        {"action": "pause", "service": "api", "at": "5s"},
        {"action": "latency", "link": "api-a->db-primary", "delay": "100ms", "at": "5s"},
        {"action": "gray-release", "version": "v2", "at": "5s"},
    ]
    assert main(["validate", str(_scenario(tmp_path, faults))]) == 0, capsys.readouterr().err


def test_a_suite_names_the_scenario_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    member = _scenario(tmp_path, [{"action": "stop", "service": "api-c", "at": "5s"}], "m.yaml")
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "apiVersion: gameday/v1\nkind: Suite\nname: s\nscenarios: [m.yaml]\n", encoding="utf-8"
    )
    assert main(["plan", str(suite)]) == 2
    err = capsys.readouterr().err
    assert f"{member}:{_line(member, 'api-c')}:" in err and "did you mean 'api-b'?" in err


def test_named_services_follow_each_fault_to_its_field(tmp_path: Path) -> None:
    faults: list[dict[str, object]] = [
        {"action": "crash", "service": "db-primary", "at": "5s"},
        {"action": "load-surge", "multiply": "2x", "at": "5s"},
        {"action": "partition", "between": [["a"], ["b", "c"]], "at": "5s"},
        {"action": "latency", "link": "x->y", "delay": "1s", "at": "5s"},
    ]
    scenario = load_scenario(_scenario(tmp_path, faults))
    assert named_services(scenario) == [
        (("faults", 0, "service"), "db-primary"),
        (("faults", 2, "between", 0, 0), "a"),
        (("faults", 2, "between", 1, 0), "b"),
        (("faults", 2, "between", 1, 1), "c"),
        (("faults", 3, "link"), "x"),
        (("faults", 3, "link"), "y"),
    ]
    # each is one a preflight resolves: the same names the engine hands the target
    assert {n for _, n in named_services(scenario)} == {
        s for f in scenario.faults for s in f.target_services()
    }


def test_the_library_names_only_services_the_sandbox_has() -> None:
    for path in sorted(LIBRARY.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if data["kind"] == "Scenario":
            assert local_problems(load_scenario(path)) == [], path
    assert {"db-primary", "site-a", "apis", "api", "proxy"} <= sandbox_services()
