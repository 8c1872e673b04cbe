"""How a drill is conducted: people's manual steps, the guardrails that abort it, its audit facts."""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from ..units import Duration, Percent, parse_duration
from .base import Slug, Strict

CLOCK_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"


class DayNightDeadline(Strict):
    """A deadline that depends on the time of day the drill starts (see `night`)."""

    day: Duration
    night: Duration


class NightWindow(Strict):
    """When night deadlines apply: from `from` until `to` (may wrap midnight), in time zone `tz`."""

    from_: str = Field("22:00", alias="from", pattern=CLOCK_PATTERN, description="HH:MM")
    to: str = Field("07:00", pattern=CLOCK_PATTERN, description="HH:MM, exclusive")
    tz: str = Field("UTC", description="IANA time zone, e.g. Asia/Shanghai")

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; expected an IANA name such as Asia/Shanghai or UTC"
            ) from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> NightWindow:
        if self.from_ == self.to:
            raise ValueError(f"the night window {self.from_}–{self.to} is empty")
        return self


class ManualStep(Strict):
    """A step a person performs and marks done, timed against its deadline."""

    name: Slug
    description: str = ""
    deadline: Duration | DayNightDeadline = Field(
        ...,
        description="after the first fault is injected; {day, night} to depend on the hour "
        "the drill starts (the `night` window)",
    )
    owner: str | None = Field(None, description="role that performs it, e.g. on-call")
    optional: bool = Field(False, description="optional steps do not block --ci runs")

    @field_validator("deadline", mode="wrap")
    @classmethod
    def _one_form(cls, value: Any, handler: Any) -> Any:
        # decide the form from the data, so a mistake is reported for that form alone
        if isinstance(value, dict):
            return DayNightDeadline.model_validate(value)
        return value if isinstance(value, DayNightDeadline) else parse_duration(value)


class AvailabilityFloor(Strict):
    floor: Percent
    for_: Duration = Field(
        30.0, alias="for", description="how long below the floor before aborting"
    )


class Guardrails(Strict):
    """Conditions that abort the drill and revert everything."""

    max_duration: Duration = Field(20 * 60.0, description="hard limit for the whole drill")
    min_availability: AvailabilityFloor | None = None


class Participant(Strict):
    name: str
    role: str


class Audit(Strict):
    """What an auditor reads in the report: scope, people, controls."""

    drill_type: Literal["tabletop", "functional", "full-scale", "technical"] = "technical"
    scope: str = ""
    exclusions: list[str] = Field(default_factory=list)
    environment: str = "staging"
    participants: list[Participant] = Field(default_factory=list)
    approver: str | None = None
    controls: list[str] = Field(
        default_factory=list, description="e.g. NIST 800-53 CP-4, SOC 2 A1.3"
    )
    next_drill: str | None = Field(None, description="date of the next scheduled drill, YYYY-MM-DD")
