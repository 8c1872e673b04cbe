"""The drill library in scenarios/ validates, against the model and against the exported schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from gameday.scenarios.loader import load_document, load_suite_scenarios
from gameday.scenarios.model import Scenario, Suite
from gameday.scenarios.schema import scenario_json_schema
from gameday.scenarios.units import (
    DURATION_PATTERN,
    PERCENT_PATTERN,
    parse_duration,
    parse_percent,
)
from tests.conftest import LIBRARY, REPO

LIBRARY_FILES = sorted(LIBRARY.glob("*.yaml"))
REQUIRED = {
    "site-outage",
    "db-primary-crash",
    "rate-limit-surge",
    "gray-release-rollback",
    "latency-hop",
    "quarterly-dr",
}


def test_library_has_one_drill_per_requirement() -> None:
    assert {p.stem for p in LIBRARY_FILES} >= REQUIRED


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.name)
def test_library_file_validates(path: Path) -> None:
    document = load_document(path)
    assert document.name == path.stem
    if isinstance(document, Suite):
        assert load_suite_scenarios(document, path)


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.name)
def test_library_file_starts_with_what_it_proves(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# Proves:")


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.name)
def test_library_file_matches_json_schema(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), scenario_json_schema())


def test_json_schema_rejects_what_the_model_rejects() -> None:
    data = yaml.safe_load((LIBRARY / "db-primary-crash.yaml").read_text(encoding="utf-8"))
    schema = scenario_json_schema()
    for broken in (
        {**data, "surprise": 1},
        {**data, "faults": [{"action": "crsh", "service": "x"}]},
        {**data, "objectives": {"recovery_time": 15}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


def test_json_schema_takes_durations_as_people_write_them() -> None:
    data = yaml.safe_load((LIBRARY / "db-primary-crash.yaml").read_text(encoding="utf-8"))
    schema = scenario_json_schema()
    for written in ("250 ms", "1.5s", "2m30s", "1h 30m"):
        jsonschema.validate({**data, "objectives": {"recovery_time": written}}, schema)


def _defaults(node: object) -> list[tuple[dict[str, object], object]]:
    """Every (field schema, default) pair in a JSON Schema."""
    found = []
    if isinstance(node, dict):
        if "default" in node:
            found.append((node, node["default"]))
        for child in node.values():
            found.extend(_defaults(child))
    elif isinstance(node, list):
        for child in node:
            found.extend(_defaults(child))
    return found


def test_json_schema_defaults_are_written_as_in_a_scenario() -> None:
    # `every` defaults to `500ms` in the schema, as a person would write it, not 0.5
    schema = scenario_json_schema()
    probe = schema["$defs"]["HttpProbe"]["properties"]
    assert (probe["every"]["default"], probe["timeout"]["default"]) == ("500ms", "2s")
    assert schema["$defs"]["Objectives"]["properties"]["recovery_time"]["default"] == "15m"
    units = {DURATION_PATTERN: parse_duration, PERCENT_PATTERN: parse_percent}
    for field, default in _defaults(schema):
        parse = units.get(str(field.get("pattern")))
        if parse is not None:
            assert isinstance(default, str), (field.get("title"), default)
            parse(default)


def test_committed_schema_is_current() -> None:
    committed = json.loads((REPO / "schema" / "scenario.schema.json").read_text(encoding="utf-8"))
    assert committed == scenario_json_schema(), "run: gameday schema -o schema/scenario.schema.json"


def test_library_drills_run_against_the_sandbox_in_minutes() -> None:
    for path in LIBRARY_FILES:
        document = load_document(path)
        if isinstance(document, Scenario):
            assert document.target.type == "sandbox"
            assert document.objectives.recovery_time is not None
            assert document.objectives.recovery_time <= 15 * 60
