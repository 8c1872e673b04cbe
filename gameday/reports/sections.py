"""The report's descriptive sections: the scenario as run, the target, each fault, each manual step.

Pure code, no I/O; each section reads and writes its own part of report.json.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from ..analysis.canon import redact
from ..scenarios.model import AnyFault, Fault, Objectives, Scenario

_FAULTS: TypeAdapter[AnyFault] = TypeAdapter(Fault)


@dataclass(frozen=True)
class ScenarioInfo:
    """The scenario as run: identity, audit section, and what evaluation needs."""

    name: str
    description: str = ""
    path: str | None = None
    sha256: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    audit: Mapping[str, Any] = field(default_factory=dict)
    objectives: Mapping[str, Any] = field(default_factory=dict)  # scenario notation
    stable_for: float = 10.0
    min_traffic_success: float | None = None
    faults: Sequence[Mapping[str, Any]] = ()  # fault specs, scenario notation

    @classmethod
    def of(
        cls, scenario: Scenario, path: str | None = None, sha256: str | None = None
    ) -> ScenarioInfo:
        """Describe a loaded scenario (secrets in probe DSNs never enter: probes are not copied)."""
        return cls(
            name=scenario.name,
            description=scenario.description,
            path=path,
            sha256=sha256,
            labels=dict(scenario.labels),
            audit=scenario.audit.model_dump(mode="json", by_alias=True),
            objectives=scenario.objectives.model_dump(mode="json"),
            stable_for=scenario.steady_state.stable_for,
            min_traffic_success=scenario.steady_state.min_traffic_success,
            faults=[f.model_dump(mode="json") for f in scenario.faults],
        )

    def objectives_model(self) -> Objectives:
        return Objectives.model_validate(dict(self.objectives))

    def fault_models(self) -> list[AnyFault]:
        return [_FAULTS.validate_python(dict(f)) for f in self.faults]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "path": self.path,
            "sha256": self.sha256,
            "labels": dict(self.labels),
            "audit": dict(self.audit),
            "objectives": dict(self.objectives),
            "steady_state": {
                "stable_for": self.stable_for,
                "min_traffic_success": self.min_traffic_success,
            },
            "faults": [dict(f) for f in self.faults],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ScenarioInfo:
        steady = d.get("steady_state", {})
        return cls(
            name=d["name"],
            description=d.get("description", ""),
            path=d.get("path"),
            sha256=d.get("sha256"),
            labels=dict(d.get("labels", {})),
            audit=dict(d.get("audit", {})),
            objectives=dict(d.get("objectives", {})),
            stable_for=float(steady.get("stable_for", 10.0)),
            min_traffic_success=steady.get("min_traffic_success"),
            faults=[dict(f) for f in d.get("faults", [])],
        )


@dataclass(frozen=True)
class TargetInfo:
    """Where the drill acted; `spec` is redacted of secrets."""

    type: str
    spec: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "spec": redact(self.spec)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TargetInfo:
        return cls(d["type"], dict(d.get("spec", {})))


@dataclass(frozen=True)
class FaultRecord:
    """One fault: its spec, the journaled plan, when it was applied and reverted, and how."""

    name: str
    action: str
    spec: Mapping[str, Any] = field(default_factory=dict)
    plan: Mapping[str, Any] | None = None
    injected_t: float | None = None
    reverted_t: float | None = None
    apply_s: float | None = None
    revert_s: float | None = None
    confirmation: Mapping[str, Any] = field(default_factory=dict)
    revert_confirmation: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "spec": dict(self.spec),
            "plan": None if self.plan is None else dict(self.plan),
            "injected_t": self.injected_t,
            "reverted_t": self.reverted_t,
            "apply_s": self.apply_s,
            "revert_s": self.revert_s,
            "confirmation": dict(self.confirmation),
            "revert_confirmation": dict(self.revert_confirmation),
            "error": self.error,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> FaultRecord:
        return cls(
            name=d["name"],
            action=d["action"],
            spec=dict(d.get("spec", {})),
            plan=d.get("plan"),
            injected_t=d.get("injected_t"),
            reverted_t=d.get("reverted_t"),
            apply_s=d.get("apply_s"),
            revert_s=d.get("revert_s"),
            confirmation=dict(d.get("confirmation", {})),
            revert_confirmation=dict(d.get("revert_confirmation", {})),
            error=d.get("error"),
        )


@dataclass(frozen=True)
class ManualStepRecord:
    """A person's step: its deadline after the first fault, when it was marked done, by whom."""

    name: str
    deadline_s: float
    description: str = ""
    owner: str | None = None
    optional: bool = False
    done_t: float | None = None
    by: str | None = None
    met: bool | None = None  # None: no fault was injected, so there is no deadline to meet
    deadline_tier: str | None = None  # "day" or "night" for a {day, night} deadline
    deadline_why: str = ""  # e.g. "drill started 23:40 Asia/Shanghai, in the night window ..."

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "deadline_s": self.deadline_s,
            "deadline_tier": self.deadline_tier,
            "deadline_why": self.deadline_why,
            "description": self.description,
            "owner": self.owner,
            "optional": self.optional,
            "done_t": self.done_t,
            "by": self.by,
            "met": self.met,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ManualStepRecord:
        return cls(
            name=d["name"],
            deadline_s=float(d["deadline_s"]),
            description=d.get("description", ""),
            owner=d.get("owner"),
            optional=bool(d.get("optional", False)),
            done_t=d.get("done_t"),
            by=d.get("by"),
            met=d.get("met"),
            deadline_tier=d.get("deadline_tier"),
            deadline_why=str(d.get("deadline_why", "")),
        )
