"""The scenario model's shared pieces: the strict base model and the field types sections reuse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Slug = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        description="lower-case letters, digits and dashes",
    ),
]
ServiceName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$",
        description="a service of the target, e.g. db-primary, api-a, site-a",
    ),
]


def _also_accept(**shorthands: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """Let the JSON Schema accept the same shorthands the model's validators expand."""

    def patch(schema: dict[str, Any]) -> None:
        for name, alternative in shorthands.items():
            prop = schema["properties"][name]
            options = prop.pop("anyOf", None) or [
                {k: prop.pop(k) for k in list(prop) if k not in {"default", "description", "title"}}
            ]
            prop["anyOf"] = [alternative, *options]

    return patch


class Strict(BaseModel):
    """Base for every scenario section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
