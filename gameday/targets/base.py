"""The one small interface every target driver implements (sandbox, docker, kubernetes).

A driver turns a fault into a *plan* first: what it will touch and exactly how to undo it,
as plain JSON. The engine writes that plan to the journal, then asks the driver to apply
it. Reverting needs nothing but the plan, so `gameday recover` can undo a fault from the
journal of a runner that died, in a new process, with a driver rebuilt from `spec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..runners.budget import TargetTimings
from ..scenarios.model import AnyFault


class TargetError(Exception):
    """The target refused or failed an operation; the message is for the operator."""


class UnsupportedFault(TargetError):
    """This target cannot apply this kind of fault (e.g. latency without netem)."""


@dataclass(frozen=True)
class FaultPlan:
    """What applying a fault will change, and the data needed to undo it. JSON-serialisable."""

    fault: str  # the fault's label
    action: str
    driver: str  # which driver can revert it
    spec: Mapping[str, Any]  # how to rebuild that driver (state dir, namespace, ...)
    undo: Mapping[str, Any]  # driver-specific revert instructions
    touches: tuple[str, ...] = ()  # human-readable things affected (pids, links, pods)
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "action": self.action,
            "driver": self.driver,
            "spec": dict(self.spec),
            "undo": dict(self.undo),
            "touches": list(self.touches),
            "detail": dict(self.detail),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultPlan:
        return cls(
            fault=str(data["fault"]),
            action=str(data["action"]),
            driver=str(data["driver"]),
            spec=dict(data.get("spec", {})),
            undo=dict(data.get("undo", {})),
            touches=tuple(data.get("touches", ())),
            detail=dict(data.get("detail", {})),
        )


@dataclass(frozen=True)
class Health:
    """A target's own view of itself, for preflight and for the report."""

    ok: bool
    summary: str
    components: Mapping[str, Any] = field(default_factory=dict)


class Target(Protocol):
    """A place a drill acts on. Methods are blocking; the engine calls them off its event loop."""

    name: str

    def spec(self) -> dict[str, Any]:
        """JSON that rebuilds an equivalent driver (for `gameday recover`)."""
        ...

    def preflight(self, services: set[str]) -> list[str]:
        """Problems that stop the drill before anything is touched (unknown service, not staging)."""
        ...

    def variables(self) -> dict[str, str]:
        """Values for `{{ target.* }}` (url, db_dsn, ...)."""
        ...

    def secrets(self) -> list[str]:
        """Values that must never appear in reports or logs (passwords inside DSNs, tokens)."""
        ...

    def timings(self) -> TargetTimings:
        """Lower bounds the target's own settings put on failover, rollback and detection."""
        ...

    def health(self) -> Health:
        """Is the target itself healthy (all components up, no fault in force)?"""
        ...

    def plan(self, fault: AnyFault) -> FaultPlan:
        """Resolve what `fault` will touch and how to undo it, without changing anything."""
        ...

    def apply(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Apply a planned fault; returns confirmation details (e.g. pids killed)."""
        ...

    def revert(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Undo a planned fault. Idempotent: reverting twice, or what never applied, is harmless."""
        ...

    def set_alert_receiver(self, url: str | None) -> None:
        """Point the target's alerting at the drill's webhook receiver (None: detach)."""
        ...

    def close(self) -> None:
        """Release clients; stop what the driver itself started (e.g. a sandbox it brought up)."""
        ...
