"""The `target:` section: what the drill acts on, one model per built-in target type."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..units import Duration
from .base import Strict


class SandboxSettings(Strict):
    """Overrides of the embedded staging's timings and behaviour for this drill."""

    failover: bool = Field(
        True, description="run the failover controller (false shows a failed recovery)"
    )
    replication: Literal["sync", "async"] = Field("sync", description="PostgreSQL replication mode")
    health_period: Duration | None = Field(
        None, description="failover controller health-check period"
    )
    failure_threshold: int | None = Field(
        None, ge=1, le=100, description="failed checks before promotion"
    )
    rollout_interval: Duration | None = Field(None, description="release controller step interval")
    canary: Literal["v2", "v2-faulty", "v2-slow"] | None = Field(
        None, description="version preloaded in the canary slot"
    )
    alert_repeat: Duration | None = Field(
        None, description="how often a firing alert is notified again (default 1m)"
    )
    escalation: bool = Field(
        True, description="escalate an alert that fires escalate_after times within escalate_within"
    )
    escalate_after: int | None = Field(
        None, ge=1, le=1000, description="firings of one alert that escalate it (default 10)"
    )
    escalate_within: Duration | None = Field(
        None, description="window the firings are counted in (default 1h)"
    )


class SandboxTarget(Strict):
    """The embedded staging, started by the drill when none is running."""

    type: Literal["sandbox"]
    state_dir: str | None = Field(
        None, description="sandbox state directory (default .gameday/sandbox)"
    )
    settings: SandboxSettings = SandboxSettings()


class DockerTarget(Strict):
    """Containers of a Compose project (or matched by labels) on a Docker engine."""

    type: Literal["docker"]
    project: str | None = Field(
        None, description="Compose project name (com.docker.compose.project)"
    )
    labels: dict[str, str] = Field(default_factory=dict, description="extra label selectors")
    url: str = Field(
        ..., description="public entry of the system under drill, e.g. http://127.0.0.1:8080"
    )
    staging: bool = Field(False, description="set true to confirm this target is a staging system")

    @model_validator(mode="after")
    def _needs_selector(self) -> DockerTarget:
        if not self.project and not self.labels:
            raise ValueError("a docker target needs 'project' or 'labels' to find its containers")
        return self


class KubernetesTarget(Strict):
    """Workloads in a Kubernetes namespace, found by label selectors."""

    type: Literal["kubernetes"]
    namespace: str = Field(..., pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    context: str | None = Field(None, description="kubeconfig context (default: current)")
    selector_label: str = Field(
        "app.kubernetes.io/name", description="label whose value is the service name"
    )
    url: str = Field(..., description="public entry of the system under drill")
    staging: bool = Field(False, description="set true to confirm this target is a staging system")


# widened by `target_types.register_kind` when a plug-in target type is registered
AnyTarget = Annotated[SandboxTarget | DockerTarget | KubernetesTarget, Field(discriminator="type")]
