"""JSON Schema of the scenario format, for YAML editors (`yaml-language-server`) and CI linting."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from .model import Scenario, Suite

SCHEMA_ID = "https://gameday.dev/schema/v1/scenario.json"


def scenario_json_schema() -> dict[str, Any]:
    """One schema accepting a Scenario or a Suite, selected by `kind`."""
    adapter: TypeAdapter[Scenario | Suite] = TypeAdapter(Scenario | Suite)
    schema = adapter.json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "gameday scenario"
    schema["description"] = (
        "A chaos / disaster-recovery drill (kind: Scenario) or a suite of drills (kind: Suite)."
    )
    return schema
