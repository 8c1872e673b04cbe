"""JSON Schema of the scenario format, for YAML editors (`yaml-language-server`) and CI linting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from .model import Scenario, Suite
from .units import (
    DURATION_PATTERN,
    MULTIPLIER_PATTERN,
    PERCENT_PATTERN,
    format_duration,
    format_multiplier,
    format_percent,
)

SCHEMA_ID = "https://gameday.dev/schema/v1/scenario.json"
# a field's schema pattern names its unit, and so how its default is written
_FORMATS: dict[str, Callable[[float], str]] = {
    DURATION_PATTERN: format_duration,
    PERCENT_PATTERN: format_percent,
    MULTIPLIER_PATTERN: format_multiplier,
}


class _DefaultsAsWritten(GenerateJsonSchema):
    """Writes a unit field's default as a scenario would (`500ms`, not 0.5)."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if "default" in json_schema:
            json_schema["default"] = _as_written(json_schema["default"], json_schema)
        return json_schema


def _as_written(default: Any, schema: dict[str, Any]) -> Any:
    """The default in the notation of the schema it belongs to; unchanged where none applies."""
    if isinstance(default, list):
        items = schema.get("items")
        return [_as_written(d, items) for d in default] if isinstance(items, dict) else default
    if isinstance(default, bool) or not isinstance(default, int | float):
        return default
    if "anyOf" in schema:
        # a number is only rewritten when no branch takes it as a plain number
        branches = schema["anyOf"]
        if any(b.get("type") in ("number", "integer") for b in branches):
            return default
        written = {_as_written(default, b) for b in branches} - {default}
        return written.pop() if len(written) == 1 else default
    format_ = _FORMATS.get(schema.get("pattern", ""))
    return format_(default) if format_ else default


def scenario_json_schema() -> dict[str, Any]:
    """One schema accepting a Scenario or a Suite, selected by `kind`."""
    adapter: TypeAdapter[Scenario | Suite] = TypeAdapter(Scenario | Suite)
    schema = adapter.json_schema(
        by_alias=True, mode="validation", schema_generator=_DefaultsAsWritten
    )
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "gameday scenario"
    schema["description"] = (
        "A chaos / disaster-recovery drill (kind: Scenario) or a suite of drills (kind: Suite)."
    )
    return schema
