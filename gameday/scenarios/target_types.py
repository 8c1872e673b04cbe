"""What the scenario layer knows of each target type: its model, its variables, its faults.

The targets layer owns the full registry (drivers, recovery, locks); it registers each
type's scenario-side facts here, so loading and validating a scenario stays pure and never
imports a driver. Registering a type widens ``Scenario.target`` to accept its model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field

from . import model as scenario_model

# faults the drill performs itself, on any target: the traffic runner's surge, a command
LOCAL_FAULTS = frozenset({"command", "load-surge"})


@dataclass(frozen=True)
class TargetKind:
    """A target type as a scenario sees it."""

    name: str  # the `target.type` value
    model: type[BaseModel]  # its `target:` section; a `type: Literal[name]` field selects it
    variables: frozenset[str]  # what `{{ target.NAME }}` may name
    faults: frozenset[str]  # fault actions its driver performs (besides LOCAL_FAULTS)

    def supports(self, action: str) -> bool:
        """Can a drill against this target apply a fault of this action?"""
        return action in self.faults or action in LOCAL_FAULTS


_DB_VARIABLES = frozenset({"url", "db_dsn", "db_primary_dsn", "db_standby_dsn", "metrics_url"})
_PROCESS_FAULTS = frozenset({"crash", "stop", "pause", "network-cut", "partition", "latency"})

BUILTIN_KINDS = (
    TargetKind(
        "sandbox",
        scenario_model.SandboxTarget,
        _DB_VARIABLES | {"state_dir"},
        _PROCESS_FAULTS | {"gray-release"},
    ),
    # docker: databases (service db-primary / db-standby) and controllers by published port
    TargetKind(
        "docker",
        scenario_model.DockerTarget,
        _DB_VARIABLES | {"project", "alerting_url", "release_url", "failover_url"},
        _PROCESS_FAULTS,
    ),
    TargetKind(
        "kubernetes",
        scenario_model.KubernetesTarget,
        frozenset({"url", "namespace"}),
        _PROCESS_FAULTS | {"gray-release"},
    ),
)

_KINDS: dict[str, TargetKind] = {kind.name: kind for kind in BUILTIN_KINDS}


def register_kind(kind: TargetKind) -> None:
    """Add (or replace) a target type and let `Scenario.target` accept its model."""
    _KINDS[kind.name] = kind
    models: tuple[Any, ...] = tuple(k.model for k in _KINDS.values())
    union: Any = models[0]
    for extra in models[1:]:
        union = union | extra
    field = scenario_model.Scenario.model_fields["target"]
    field.annotation = Annotated[union, Field(discriminator="type")]
    field.discriminator = "type"
    scenario_model.Scenario.model_rebuild(force=True)


def unregister_kind(name: str) -> None:
    """Remove a registered type (tests that register a toy target clean up with this)."""
    if name in _KINDS and len(_KINDS) > 1:
        del _KINDS[name]
        last = next(iter(_KINDS.values()))
        register_kind(last)


def target_kind(name: str) -> TargetKind | None:
    """The registered type called ``name``, if any."""
    return _KINDS.get(name)


def target_kinds() -> list[TargetKind]:
    """Every registered type, built-ins first."""
    return list(_KINDS.values())
