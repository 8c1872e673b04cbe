"""How a drill is conducted: people's manual steps, the guardrails that abort it, its audit facts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..units import Duration, Percent
from .base import Slug, Strict


class ManualStep(Strict):
    """A step a person performs and marks done, timed against its deadline."""

    name: Slug
    description: str = ""
    deadline: Duration = Field(..., description="after the first fault is injected")
    owner: str | None = Field(None, description="role that performs it, e.g. on-call")
    optional: bool = Field(False, description="optional steps do not block --ci runs")


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
