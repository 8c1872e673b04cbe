"""The `faults:` section: one model per fault action, and the set of actions a fault may name."""

from __future__ import annotations

import itertools
import typing
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ..units import Duration, Multiplier, Percent
from .base import ServiceName, Slug, Strict, _also_accept


class FaultBase(Strict):
    name: Slug | None = Field(None, description="defaults to <action>-<service>")
    at: Duration = Field(0.0, description="when, after the baseline ends")
    duration: Duration | None = Field(
        None, description="how long it stays in force; without it, until the drill's teardown"
    )
    expect: Literal["impact", "absorbed"] = Field(
        "impact",
        description="impact: users or probes should notice it (no impact is a finding); "
        "absorbed: the system should hide it completely",
    )
    settle: Duration | None = Field(
        None,
        description="how long its effect may take to show (e.g. a lease TTL); recovery is "
        "not confirmed before this much time after injection",
    )

    def label(self) -> str:
        """The fault's name, or one made from its action and what it acts on."""
        return self.name or f"{getattr(self, 'action', 'fault')}-{self.subject()}"

    def subject(self) -> str:
        """What the fault acts on, for plans and reports."""
        return str(getattr(self, "service", "") or "system")

    def target_services(self) -> list[str]:
        """The target's services this fault names, for preflight to resolve before anything runs."""
        service = getattr(self, "service", None)
        return [service] if service else []


class CrashFault(FaultBase):
    """Kill the service's process (SIGKILL / container kill / pod delete)."""

    action: Literal["crash"]
    service: ServiceName
    restart: bool = Field(
        True, description="bring it back on revert (a crashed database rejoins as a standby)"
    )
    pods: int | Percent | Literal["all"] = Field(
        1, description="kubernetes: how many matching pods"
    )


class StopFault(FaultBase):
    """Stop the service gracefully; start it again on revert."""

    action: Literal["stop"]
    service: ServiceName


class PauseFault(FaultBase):
    """Freeze the service (SIGSTOP / docker pause); resume on revert."""

    action: Literal["pause"]
    service: ServiceName


class NetworkCutFault(FaultBase):
    """Isolate a service from every peer."""

    action: Literal["network-cut"]
    service: ServiceName
    mode: Literal["blackhole", "reset"] = Field(
        "blackhole", description="blackhole: packets vanish; reset: connections refused"
    )


class PartitionFault(FaultBase):
    """Cut every link between two groups of services."""

    action: Literal["partition"]
    between: list[list[ServiceName]] = Field(..., min_length=2, max_length=2)

    @field_validator("between")
    @classmethod
    def _disjoint(cls, groups: list[list[str]]) -> list[list[str]]:
        if any(not group for group in groups):
            raise ValueError("each group needs at least one service")
        shared = set(groups[0]) & set(groups[1])
        if shared:
            raise ValueError(f"a service cannot be on both sides: {', '.join(sorted(shared))}")
        return groups

    def subject(self) -> str:
        return " | ".join(",".join(g) for g in self.between)

    def target_services(self) -> list[str]:
        """Every service of both groups."""
        return [service for group in self.between for service in group]


class LatencyFault(FaultBase):
    """Add delay to a service's links, or to one link `src->dst`."""

    action: Literal["latency"]
    service: ServiceName | None = None
    link: str | None = Field(
        None, pattern=r"^[a-z0-9._-]+->[a-z0-9._-]+$", description="e.g. api-a->db-primary"
    )
    delay: Duration
    jitter: Duration = 0.0

    @model_validator(mode="after")
    def _one_subject(self) -> LatencyFault:
        if bool(self.service) == bool(self.link):
            raise ValueError("give exactly one of 'service' or 'link'")
        return self

    def subject(self) -> str:
        return self.link or str(self.service)

    def target_services(self) -> list[str]:
        """The service, or both ends of the link: preflight resolves each."""
        return self.link.split("->") if self.link else [str(self.service)]


class LoadSurgeFault(FaultBase):
    """Multiply the synthetic users: ramp up, hold, return."""

    action: Literal["load-surge"]
    multiply: Multiplier
    ramp: Duration = 5.0
    hold: Duration = 30.0

    @model_validator(mode="after")
    def _sane(self) -> LoadSurgeFault:
        if self.multiply > 1000:
            raise ValueError("'multiply' above 1000x is refused")
        return self

    def subject(self) -> str:
        return "traffic"

    def target_services(self) -> list[str]:
        """None: the drill's own traffic: no service of the target."""
        return []


class GrayReleaseFault(FaultBase):
    """Roll out a version step by step; the release controller must roll back a bad one."""

    action: Literal["gray-release"]
    version: str = Field(..., pattern=r"^[A-Za-z0-9._-]+$")
    service: ServiceName = "api"
    steps: list[Percent] = Field(default_factory=lambda: [0.05, 0.2, 0.5, 1.0], min_length=1)
    interval: Duration | None = Field(None, description="time per step (default: target's setting)")
    expect_rollback: bool = Field(
        True, description="the version is bad; the drill expects it rolled back"
    )

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[float]) -> list[float]:
        if any(b <= a for a, b in itertools.pairwise(steps)) or steps[0] <= 0:
            raise ValueError("steps must increase, each above 0%, e.g. [5%, 20%, 50%, 100%]")
        return steps

    def subject(self) -> str:
        return f"{self.service}@{self.version}"

    def target_services(self) -> list[str]:
        """None: the release backend resolves the released workload itself."""
        return []


class CommandFault(FaultBase):
    """Run your own command; `undo` reverts it. Both are argv lists or strings split like a shell."""

    model_config = ConfigDict(
        json_schema_extra=_also_accept(
            run={"type": "string", "minLength": 1}, undo={"type": "string", "minLength": 1}
        )
    )

    action: Literal["command"]
    run: list[str] = Field(..., min_length=1)
    undo: list[str] = Field(..., min_length=1)
    timeout: Duration = 60.0

    @field_validator("run", "undo", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        import shlex

        return shlex.split(value) if isinstance(value, str) else value

    def subject(self) -> str:
        return self.run[0]

    def target_services(self) -> list[str]:
        """None: the drill runs it: no service of the target."""
        return []


AnyFault = (
    CrashFault
    | StopFault
    | PauseFault
    | NetworkCutFault
    | PartitionFault
    | LatencyFault
    | LoadSurgeFault
    | GrayReleaseFault
    | CommandFault
)
Fault = Annotated[AnyFault, Field(discriminator="action")]
# every `action:` a fault may name
FAULT_ACTIONS = frozenset(
    typing.get_args(model.model_fields["action"].annotation)[0]
    for model in typing.get_args(AnyFault)
)
