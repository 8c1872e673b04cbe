"""The command line as a user meets it: exit codes, one-line errors, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LIBRARY, REPO


def gameday(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gameday.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def test_validate_library_exits_zero() -> None:
    result = gameday("validate", *map(str, sorted(LIBRARY.glob("*.yaml"))))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok  ") == len(list(LIBRARY.glob("*.yaml")))


def test_plan_prints_schedule_and_objectives() -> None:
    result = gameday("plan", "scenarios/db-primary-crash.yaml")
    assert result.returncode == 0, result.stderr
    for needle in ("inject crash", "db-primary", "T+5s", "recovery_time", "≤ 15m", "data_loss"):
        assert needle in result.stdout


BROKEN = {
    "typo.yaml": ("apiVersion: gameday/v1\nkind: Scenario\nnme: x\n", ":3:1:", "nme"),
    "syntax.yaml": ("a: [1, 2\nb: 3\n", ":", "YAML syntax error"),
    "empty.yaml": ("", "empty.yaml", "file is empty"),
    "duration.yaml": (
        "apiVersion: gameday/v1\nkind: Scenario\nname: x\ntarget: {type: sandbox}\n"
        "steady_state: {stable_for: ten, probes: [{name: a, type: tcp, port: 1}]}\n"
        "faults: [{action: crash, service: a}]\n",
        ":5:",
        "steady_state.stable_for",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_files_exit_2_with_location_and_no_traceback(tmp_path: Path, name: str) -> None:
    text, location, needle = BROKEN[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    for command in ("validate", "plan"):
        result = gameday(command, str(path))
        assert result.returncode == 2
        assert location in result.stderr and needle in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert "nothing was run" in result.stderr


def test_binary_file_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "img.yaml"
    path.write_bytes(bytes(range(256)))
    result = gameday("validate", str(path))
    assert result.returncode == 2 and "binary file" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_reports_every_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Nope\n", encoding="utf-8")
    result = gameday("validate", str(LIBRARY / "latency-hop.yaml"), str(bad))
    assert result.returncode == 2
    assert "ok  " in result.stdout and "bad.yaml:1:7: kind" in result.stderr


def test_schema_is_json() -> None:
    result = gameday("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"] == "gameday scenario"


def test_help_everywhere() -> None:
    for args in (
        ["--help"],
        ["validate", "--help"],
        ["plan", "--help"],
        ["schema", "--help"],
        ["run", "--help"],
        ["recover", "--help"],
        ["ack", "--help"],
        ["sandbox", "status", "--help"],
    ):
        result = gameday(*args)
        assert result.returncode == 0 and "usage:" in result.stdout


def test_no_command_prints_help_and_exits_2() -> None:
    result = gameday()
    assert result.returncode == 2 and "usage:" in result.stdout


def test_help_is_fast_because_imports_are_lazy() -> None:
    code = "import sys, gameday.cli; print(sorted(m for m in ('pydantic', 'rich', 'yaml', 'locust', 'kubernetes') if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_plan_warns_when_the_sandbox_timings_make_an_objective_impossible(tmp_path: Path) -> None:
    path = tmp_path / "tight.yaml"
    path.write_text(
        "apiVersion: gameday/v1\nkind: Scenario\nname: tight\n"
        "target: {type: sandbox, settings: {health_period: 2s, failure_threshold: 5}}\n"
        "objectives: {recovery_time: 5s, failover_time: 5s}\n"
        "steady_state: {probes: [{name: h, type: http, url: 'http://127.0.0.1:1/'}]}\n"
        "faults: [{action: crash, service: db-primary, at: 5s}]\n",
        encoding="utf-8",
    )
    result = gameday("plan", str(path))
    assert result.returncode == 0, result.stderr
    assert "failover_time 5s cannot be met" in result.stdout
    assert "health period 2s × 5 failed checks" in result.stdout
