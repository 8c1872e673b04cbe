"""The one small interface every target driver implements, and the fault actions behind it.

A driver turns a fault into a *plan* first: what it will touch and exactly how to undo it,
as plain JSON. The engine writes that plan to the journal, then asks the driver to apply
it. Reverting needs nothing but the plan, so `gameday recover` can undo a fault from the
journal of a runner that died, in a new process, with a driver rebuilt from `spec`.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from ..analysis.budget import TargetTimings
from ..scenarios.model import AnyFault

D = TypeVar("D", bound="Target")


class TargetError(Exception):
    """The target refused or failed an operation; the message is for the operator."""


class UnsupportedFault(TargetError):
    """This target cannot apply this kind of fault (e.g. latency without netem)."""


class UnknownService(str):
    """A preflight problem naming a service the target does not have.

    Bad input, not a target in trouble: the drill is refused (exit 2) before anything is
    applied, where other preflight problems abort it (exit 3).
    """

    service: str

    def __new__(cls, service: str, message: str) -> UnknownService:
        problem = super().__new__(cls, message)
        problem.service = service
        return problem


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


# where a driver stamps the moment it acts; the runner sets a fresh list per apply (the
# driver runs in a worker thread, which inherits the runner's context)
_ACTS: contextvars.ContextVar[list[tuple[float, float]] | None] = contextvars.ContextVar(
    "gameday_acts", default=None
)


@contextlib.contextmanager
def acting() -> Iterator[None]:
    """Wrap the call that makes a fault strike (signal sent, rule installed, API call).

    The runner times the injection from these stamps, not from when the driver finished
    confirming; without any, the whole apply call brackets it.
    """
    t0 = time.monotonic()
    try:
        yield
    finally:
        acts = _ACTS.get()
        if acts is not None:
            acts.append((t0, time.monotonic()))


@contextlib.contextmanager
def recording_acts() -> Iterator[list[tuple[float, float]]]:
    """Collect the `acting()` stamps of what runs inside (the runner's side of the seam)."""
    acts: list[tuple[float, float]] = []
    token = _ACTS.set(acts)
    try:
        yield acts
    finally:
        _ACTS.reset(token)


@dataclass(frozen=True)
class Health:
    """A target's own view of itself, for preflight and for the report."""

    ok: bool
    summary: str
    components: Mapping[str, Any] = field(default_factory=dict)


class FaultAction(Generic[D]):
    """How one driver performs one kind of fault. One instance per (driver, fault action).

    ``plan`` runs at the moment of injection, so a role ("the current primary") is resolved
    then and the plan journals the exact instance; ``revert`` needs nothing but that plan.
    """

    def plan(self, driver: D, fault: Any) -> FaultPlan:
        """What ``fault`` will touch and how to undo it; changes nothing."""
        raise NotImplementedError

    def apply(self, driver: D, plan: FaultPlan) -> Mapping[str, Any]:
        """Perform the planned fault; returns what was done (pids killed, rules added)."""
        raise NotImplementedError

    def confirm(self, driver: D, plan: FaultPlan) -> Mapping[str, Any]:
        """Check the fault took effect (the process is gone, the rule is in place)."""
        return {}

    def revert(self, driver: D, plan: FaultPlan) -> Mapping[str, Any]:
        """Undo the plan. Idempotent: reverting twice, or what never applied, is harmless."""
        raise NotImplementedError


class Target:
    """A place a drill acts on. Methods are blocking; the engine calls them off its event loop.

    Subclasses set ``name`` (the registry's type name, journaled with every plan) and
    ``actions`` (one FaultAction per fault action they perform); every other ability has a
    harmless default, so the engine never probes a driver for what it can do.
    """

    name: ClassVar[str] = "target"
    actions: ClassVar[Mapping[str, FaultAction[Any]]] = {}
    started: bool = False  # did this driver start the target itself (recover must stop it)

    def spec(self) -> dict[str, Any]:
        """JSON that rebuilds an equivalent driver (for `gameday recover`)."""
        return {}

    def bind_run(self, run_id: str, scenario: str) -> None:
        """Learn the run, for drivers that label what they create with it."""

    def ensure_running(self) -> bool:
        """Start the target when the driver owns it (the sandbox); True when this call did."""
        return False

    def preflight(self, services: set[str]) -> list[str]:
        """Problems that stop the drill before anything is touched (unknown service, not staging).

        A service the target does not have is an `UnknownService`: refused as bad input.
        """
        return []

    def variables(self) -> dict[str, str]:
        """Values for `{{ target.* }}` (url, db_dsn, ...)."""
        return {}

    def secrets(self) -> list[str]:
        """Values that must never appear in reports or logs (passwords inside DSNs, tokens)."""
        return []

    def timings(self) -> TargetTimings:
        """Lower bounds the target's own settings put on failover, rollback and detection."""
        return TargetTimings()

    def health(self) -> Health:
        """Is the target itself healthy (all components up, no fault in force)?"""
        return Health(True, "no health check")

    def set_alert_receiver(self, url: str | None) -> None:
        """Point the target's alerting at the drill's webhook receiver (None: detach)."""

    def close(self) -> None:
        """Release clients; stop what the driver itself started (e.g. a sandbox it brought up)."""

    def stop_started(self) -> bool:
        """Stop a target that a dead runner started (for `recover`); False: none of ours runs."""
        return False

    def action(self, name: str) -> FaultAction[Any]:
        """The action performing fault ``name`` here, or UnsupportedFault naming this target."""
        action = self.actions.get(name)
        if action is None:
            performs = ", ".join(sorted(self.actions)) or "none"
            raise UnsupportedFault(
                f"the {self.name} target cannot apply {name!r} (it performs: {performs})"
            )
        return action

    def plan(self, fault: AnyFault) -> FaultPlan:
        """Resolve what `fault` will touch and how to undo it, without changing anything."""
        return self.action(fault.action).plan(self, fault)

    def apply(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Apply a planned fault; returns what was done."""
        return self.action(plan.action).apply(self, plan)

    def confirm(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Confirm an applied fault took effect; returns the evidence."""
        return self.action(plan.action).confirm(self, plan)

    def revert(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Undo a planned fault. Idempotent: reverting twice, or what never applied, is harmless."""
        return self.action(plan.action).revert(self, plan)
