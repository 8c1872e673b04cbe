"""The documents a YAML file holds: one drill (`Scenario`) or drills run in order (`Suite`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..units import format_duration
from .base import Slug, Strict
from .conduct import Audit, Guardrails, ManualStep, NightWindow
from .faults import Fault
from .objectives import Objectives
from .probes import AnyProbe, Probe, SteadyState
from .targets import AnyTarget
from .traffic import Traffic

API_VERSION = "gameday/v1"
_NIGHT = "when {day, night} deadlines take their night value (default 22:00–07:00 UTC)"


class Scenario(Strict):
    """One drill."""

    api_version: Literal["gameday/v1"] = Field(..., alias="apiVersion")
    kind: Literal["Scenario"]
    name: Slug
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    vars: dict[str, str] = Field(default_factory=dict, description="values for {{ vars.NAME }}")
    target: AnyTarget
    objectives: Objectives = Objectives()
    traffic: Traffic | None = None
    steady_state: SteadyState
    evidence: list[Probe] = Field(
        default_factory=list, description="probes recorded but not judged"
    )
    faults: list[Fault] = Field(..., min_length=1)
    manual_steps: list[ManualStep] = Field(default_factory=list)
    night: NightWindow | None = Field(None, description=_NIGHT)
    guardrails: Guardrails = Guardrails()
    audit: Audit = Audit()

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems: list[str] = []
        names = [p.name for p in (*self.steady_state.probes, *self.evidence)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(f"probe names must be unique: {', '.join(dupes)}")
        fault_names = [f.label() for f in self.faults]
        fdupes = sorted({n for n in fault_names if fault_names.count(n) > 1})
        if fdupes:
            problems.append(f"fault names must be unique (add 'name:'): {', '.join(fdupes)}")
        if any(f.action == "load-surge" for f in self.faults) and self.traffic is None:
            problems.append("a load-surge fault needs a 'traffic' section to multiply")
        if self.objectives.protected_success and self.traffic is None:
            problems.append("objective protected_success needs a 'traffic' section")
        if (self.objectives.rollback_time or self.objectives.blast_radius) and not any(
            f.action == "gray-release" for f in self.faults
        ):
            problems.append("rollback_time and blast_radius need a gray-release fault")
        limit = self.guardrails.max_duration
        late = [f.label() for f in self.faults if self.steady_state.stable_for + f.at >= limit]
        if late:
            problems.append(
                f"faults {', '.join(late)} would start after guardrails.max_duration "
                f"({format_duration(limit)}, counted from the start: the baseline's "
                f"{format_duration(self.steady_state.stable_for)} comes first): raise "
                "max_duration or move them earlier"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def all_probes(self) -> list[AnyProbe]:
        """Steady-state probes first, then evidence probes."""
        return [*self.steady_state.probes, *self.evidence]


class Suite(Strict):
    """Scenarios run in order, e.g. the quarterly DR drill."""

    api_version: Literal["gameday/v1"] = Field(..., alias="apiVersion")
    kind: Literal["Suite"]
    name: Slug
    description: str = ""
    scenarios: list[str] = Field(..., min_length=1, description="paths, relative to the suite file")
    stop_on_failure: bool = True
    manual_steps: list[ManualStep] = Field(
        default_factory=list, description="steps timed in every scenario of the suite"
    )
    night: NightWindow | None = Field(
        None, description=_NIGHT + "; for every scenario of the suite without its own"
    )
    audit: Audit = Audit()
