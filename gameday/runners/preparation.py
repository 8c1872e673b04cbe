"""What a drill prepares from its scenario before anything runs: secrets, probes, traffic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..analysis.milestones import SteadyTracker
from ..analysis.timeline import ProbeInfo, ProbeRole, Timeline
from ..scenarios.model import AnyProbe, Scenario
from ..scenarios.references import SECRET, Resolver, SecretError
from ..traffic.runner import TrafficConfig
from .probes.base import Probe
from .receiver import AlertReceiver


def unresolvable_secret(scenario: Scenario, base_dir: Path) -> str | None:
    """The first ${env:}/${file:} reference that cannot be resolved, with why (None: all can)."""
    probe = Resolver(variables={}, base_dir=base_dir)
    for match in SECRET.finditer(scenario.model_dump_json()):
        try:
            probe.render(match.group(0))
        except SecretError as exc:
            return f"secret reference {match.group(0)}: {exc}"
    return None


def refusals(scenario: Scenario, scenario_path: Path, ci: bool) -> list[str]:
    """Why this scenario may not run at all (exit 2, before anything is touched); [] if none.

    Required manual steps under --ci (nobody can be asked), then secrets that cannot be read.
    """
    out: list[str] = []
    required = [s.name for s in scenario.manual_steps if not s.optional]
    if ci and required:
        out.append(
            f"--ci runs never prompt, but manual steps {', '.join(required)} are required; "
            "mark them optional: true or run without --ci"
        )
    problem = unresolvable_secret(scenario, scenario_path.parent)
    if problem is not None:
        out.append(problem)
    return out


def build_probes(
    scenario: Scenario,
    resolver: Resolver,
    timeline: Timeline,
    run_id: str,
    receiver: AlertReceiver | None,
) -> list[Probe]:
    """Every probe of the scenario, rendered and built; each registered on the timeline."""
    from .probes import build_probe

    probes = []
    for model, role in probe_models(scenario):
        timeline.add_probe(ProbeInfo(model.name, model.type, model.every, role))
        probes.append(build_probe(render_model(resolver, model), run_id=run_id, receiver=receiver))
    return probes


def probe_models(scenario: Scenario) -> list[tuple[AnyProbe, ProbeRole]]:
    """Every probe with its role: judged ("steady") or only recorded ("evidence")."""
    steady: list[tuple[AnyProbe, ProbeRole]] = [(p, "steady") for p in scenario.steady_state.probes]
    return steady + [(p, "evidence") for p in scenario.evidence]


def render_model(resolver: Resolver, model: AnyProbe) -> AnyProbe:
    """Fill variables and secrets into every string field of a probe."""

    def render(value: Any) -> Any:
        if isinstance(value, str):
            return resolver.render(value)
        if isinstance(value, list):
            return [render(v) for v in value]
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        return value

    data = {name: render(getattr(model, name)) for name in type(model).model_fields}
    return type(model).model_construct(**data)


def traffic_config(scenario: Scenario, scenario_path: Path, resolver: Resolver) -> TrafficConfig:
    """The Locust run the scenario's ``traffic:`` asks for, bounded by the drill's own limit."""
    from ..traffic.profiles import BUILTIN_PROFILES

    traffic = scenario.traffic
    assert traffic is not None
    if traffic.locustfile:
        locustfile = (scenario_path.parent / traffic.locustfile).resolve()
    else:
        locustfile = BUILTIN_PROFILES[traffic.profile or "payments"]
    return TrafficConfig(
        host=resolver.render(traffic.host),
        users=traffic.users,
        spawn_rate=traffic.spawn_rate,
        max_duration_s=scenario.guardrails.max_duration + 60,
        max_requests=traffic.max_requests,
        locustfile=locustfile,
        workers=traffic.workers,
    )


def steady_tracker(scenario: Scenario, after: float | None) -> SteadyTracker:
    """A steady-state tracker judging samples from `after` on (None: everything)."""
    steady = scenario.steady_state
    return SteadyTracker(
        [p.name for p in steady.probes],
        steady.stable_for,
        min_traffic_success=steady.min_traffic_success,
        after=after,
    )
