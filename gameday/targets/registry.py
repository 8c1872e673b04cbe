"""The target registry: one entry per target type, found by name.

An entry says everything the rest of gameday needs of a type: its scenario model and
`{{ target.* }}` variables (its ``kind``), how to build its driver from that model, how to
rebuild one from a journaled spec (for `gameday recover`), what identifies it for the
drill lock, and the timing floors `plan` can know without contacting it. Adding a target
is its model, one driver module and one `register()` call; third-party packages register
through the ``gameday.targets`` entry-point group, whose objects are ``TargetType``s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ..analysis.budget import TargetTimings
from ..scenarios.model import SandboxTarget, Scenario
from ..scenarios.source import DataPath
from ..scenarios.target_types import BUILTIN_KINDS, TargetKind, register_kind, unregister_kind
from .base import Target, TargetError

ENTRY_POINT_GROUP = "gameday.targets"


def _without_settings(spec: Mapping[str, Any]) -> dict[str, Any]:
    # a drill's overrides of the target's settings do not make it another target
    return {k: v for k, v in spec.items() if k != "settings"}


def _no_lock_dir(spec: Mapping[str, Any]) -> Path | None:
    return None


def _unknown_offline(model: Any) -> TargetTimings | None:
    return None  # knowing a remote target's settings would mean contacting it


@dataclass(frozen=True)
class TargetType:
    """One target type: its scenario-side kind and its driver-side hooks."""

    kind: TargetKind
    driver: Callable[[Any], Target]  # the scenario's target model -> a driver (not started)
    from_spec: Callable[[Mapping[str, Any]], Target]  # a journaled spec -> a driver
    lock_identity: Callable[[Mapping[str, Any]], Mapping[str, Any]] = _without_settings
    lock_dir: Callable[[Mapping[str, Any]], Path | None] = _no_lock_dir  # None: the user's
    offline_timings: Callable[[Any], TargetTimings | None] = _unknown_offline
    # problems in a scenario found without contacting its target (a state dir of user files,
    # a service its topology lacks): (data path in the scenario, message); `validate`, `plan`
    # and `run` refuse the scenario on them at that path's line (exit 2)
    local_problems: Callable[[Scenario], list[tuple[DataPath, str]]] = lambda scenario: []

    @property
    def name(self) -> str:
        return self.kind.name


# --------------------------------------------------------------------------- built-ins


def _sandbox(model: Any) -> Target:
    from .sandbox import SandboxDriver

    return SandboxDriver(model.state_dir, model.settings)


def _sandbox_from_spec(spec: Mapping[str, Any]) -> Target:
    from .sandbox import SandboxDriver

    return SandboxDriver(spec.get("state_dir"))


def _sandbox_state_dir(spec: Mapping[str, Any]) -> Path:
    from ..sandbox.state import resolve_state_dir

    return resolve_state_dir(spec.get("state_dir"))


def sandbox_services() -> set[str]:
    """Every service name the sandbox resolves, known from its topology alone."""
    from ..sandbox.topology import COMPONENTS, GROUPS
    from .sandbox.driver import API_ALIASES

    return {*COMPONENTS, *GROUPS, *API_ALIASES}


def _sandbox_problems(scenario: Scenario) -> list[tuple[DataPath, str]]:
    """A state dir of user files; services and links the sandbox's topology does not have."""
    from ..sandbox.startup import foreign_state_dir
    from ..sandbox.topology import link_pairs
    from ..scenarios.services import unknown_links, unknown_services

    assert isinstance(scenario.target, SandboxTarget)  # the registry chose this by its type
    problems: list[tuple[DataPath, str]] = []
    state_dir = foreign_state_dir(_sandbox_state_dir({"state_dir": scenario.target.state_dir}))
    if state_dir:
        problems.append((("target", "state_dir"), state_dir))
    problems += unknown_services(scenario, sandbox_services(), "sandbox")
    named = {path for path, _ in problems}  # a link with an unknown end is one problem
    links = unknown_links(scenario, set(link_pairs()), "sandbox")
    return problems + [(path, message) for path, message in links if path not in named]


def _docker(model: Any) -> Target:
    from .docker import DockerDriver

    return DockerDriver.from_model(model)


def _docker_from_spec(spec: Mapping[str, Any]) -> Target:
    from .docker import DockerDriver

    return DockerDriver.from_spec(spec)


def _kubernetes(model: Any) -> Target:
    from .kubernetes import KubernetesDriver

    return KubernetesDriver.from_model(model)


def _kubernetes_from_spec(spec: Mapping[str, Any]) -> Target:
    from .kubernetes import KubernetesDriver

    return KubernetesDriver.from_spec(spec)


def _local_from_spec(spec: Mapping[str, Any]) -> Target:
    from .local import LocalDriver

    return LocalDriver()


_BUILTIN_DRIVERS: dict[str, tuple[Callable[[Any], Target], Callable[[Mapping[str, Any]], Target]]]
_BUILTIN_DRIVERS = {
    "sandbox": (_sandbox, _sandbox_from_spec),
    "docker": (_docker, _docker_from_spec),
    "kubernetes": (_kubernetes, _kubernetes_from_spec),
}
_TYPES: dict[str, TargetType] = {}
for _kind in BUILTIN_KINDS:
    _make, _rebuild = _BUILTIN_DRIVERS[_kind.name]
    _TYPES[_kind.name] = TargetType(_kind, _make, _rebuild)
# the sandbox's lock lives in its state dir, so drills started from any directory meet there;
# its timing floors come from its settings alone, so `plan` can state them offline
_TYPES["sandbox"] = TargetType(
    _TYPES["sandbox"].kind,
    _sandbox,
    _sandbox_from_spec,
    lock_identity=lambda spec: {"state_dir": str(_sandbox_state_dir(spec))},
    lock_dir=_sandbox_state_dir,
    offline_timings=lambda model: _sandbox(model).timings(),
    local_problems=_sandbox_problems,
)
# plans of faults the drill performs itself (command, load surge); "command" and "traffic"
# name the same driver in journals written before the local driver existed
_SPEC_ONLY: dict[str, Callable[[Mapping[str, Any]], Target]] = {
    "local": _local_from_spec,
    "command": _local_from_spec,
    "traffic": _local_from_spec,
}


# --------------------------------------------------------------------------- the table


def register(target_type: TargetType) -> None:
    """Add (or replace) a target type; scenarios may name it from now on."""
    _TYPES[target_type.name] = target_type
    register_kind(target_type.kind)


def unregister(name: str) -> None:
    """Remove a registered type (for tests that register a toy target)."""
    if _TYPES.pop(name, None) is not None:
        unregister_kind(name)


def load_plugins() -> list[str]:
    """Register every target type that installed packages offer; returns their names."""
    names = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        target_type = entry.load()
        if not isinstance(target_type, TargetType):
            raise TargetError(f"entry point {entry.value} is not a gameday TargetType")
        register(target_type)
        names.append(target_type.name)
    return names


def target_type(name: str) -> TargetType:
    """The registered type ``name``; TargetError if none is."""
    found = _TYPES.get(name)
    if found is None:
        known = ", ".join(sorted(_TYPES))
        raise TargetError(f"unknown target type {name!r} (registered: {known})")
    return found


def make_target(model: Any) -> Target:
    """The driver for a scenario's ``target:`` section (not started: call ensure_running)."""
    return target_type(model.type).driver(model)


def target_from_spec(driver: str, spec: Mapping[str, Any]) -> Target:
    """Rebuild a driver from a journaled plan's ``driver`` and ``spec`` (starts nothing)."""
    if driver in _SPEC_ONLY:
        return _SPEC_ONLY[driver](spec)
    return target_type(driver).from_spec(spec)


def offline_timings(model: Any) -> TargetTimings | None:
    """The timing floors `plan` can state without contacting the target (None: unknown)."""
    return target_type(model.type).offline_timings(model)


def lock_identity(driver: str, spec: Mapping[str, Any]) -> tuple[Mapping[str, Any], Path | None]:
    """What names the target itself for the drill lock, and where its lock must live."""
    found = _TYPES.get(driver)
    if found is None:
        return _without_settings(spec), None
    return found.lock_identity(spec), found.lock_dir(spec)


def local_problems(scenario: Scenario) -> list[tuple[DataPath, str]]:
    """What is wrong with a scenario's use of its target, known without contacting it."""
    return target_type(scenario.target.type).local_problems(scenario)
