"""The scenario model: a typed, immutable description of a drill (and of a suite of drills).

Pure data and validation, no I/O. Field names are the YAML keys; units are parsed by
`units` so every duration here is seconds, every percentage a fraction.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .units import PERCENT_PATTERN, Duration, Multiplier, Percent

API_VERSION = "gameday/v1"
DEFAULT_RECOVERY_OBJECTIVE_S = 15 * 60.0

Slug = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        description="lower-case letters, digits and dashes",
    ),
]
ServiceName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$",
        description="a service of the target, e.g. db-primary, api-a, site-a",
    ),
]


def _also_accept(**shorthands: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """Let the JSON Schema accept the same shorthands the model's validators expand."""

    def patch(schema: dict[str, Any]) -> None:
        for name, alternative in shorthands.items():
            prop = schema["properties"][name]
            options = prop.pop("anyOf", None) or [
                {k: prop.pop(k) for k in list(prop) if k not in {"default", "description", "title"}}
            ]
            prop["anyOf"] = [alternative, *options]

    return patch


class Strict(BaseModel):
    """Base for every scenario section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- targets


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


Target = Annotated[SandboxTarget | DockerTarget | KubernetesTarget, Field(discriminator="type")]


# --------------------------------------------------------------------------- objectives


class DataLossObjective(Strict):
    """Bound on acknowledged writes lost (RPO)."""

    max_writes: int = Field(0, ge=0, description="acknowledged ledger writes that may be missing")
    max_span: Duration | None = Field(None, description="time span the lost writes may cover")


class ProtectedSuccessObjective(Strict):
    """During a surge, protected requests keep succeeding; each failure kind has its own budget."""

    requests: list[str] = Field(
        default_factory=lambda: ["pay"], description="protected request names"
    )
    min: Percent = Field(..., description="share of protected requests that must succeed")
    max_shed: Percent | None = Field(
        None, description="share of protected requests rate-limited (429)"
    )
    max_5xx: Percent | None = Field(None, description="share of protected requests failed with 5xx")
    max_circuit: Percent | None = Field(None, description="share failed fast by an open breaker")
    breakers_close_within: Duration | None = Field(
        None, description="time from surge end until no breaker fast-fails"
    )


class Objectives(Strict):
    """What the drill is judged on; each is optional except recovery time (15m by default)."""

    model_config = ConfigDict(
        json_schema_extra=_also_accept(
            data_loss={"type": "integer", "minimum": 0},
            protected_success={"type": "string", "pattern": PERCENT_PATTERN},
        )
    )

    recovery_time: Duration | None = Field(
        DEFAULT_RECOVERY_OBJECTIVE_S, description="first fault → steady state holds for stable_for"
    )
    failover_time: Duration | None = Field(
        None, description="recovery while the fault is still in force"
    )
    detection_time: Duration | None = Field(None, description="first fault → first alert received")
    data_loss: DataLossObjective | None = None
    availability: Percent | None = Field(
        None, description="minimum user success rate over the drill"
    )
    p99_latency: Duration | None = Field(
        None, description="maximum user p99 latency after recovery"
    )
    rollback_time: Duration | None = Field(
        None, description="gray release start → canary share back to 0"
    )
    blast_radius: Percent | None = Field(
        None, description="maximum share of user requests failed or served by the bad version"
    )
    protected_success: ProtectedSuccessObjective | None = None

    @field_validator("data_loss", mode="before")
    @classmethod
    def _data_loss_shorthand(cls, value: object) -> object:
        # `data_loss: 0` reads better than `data_loss: {max_writes: 0}`
        if isinstance(value, int) and not isinstance(value, bool):
            return {"max_writes": value}
        return value

    @field_validator("protected_success", mode="before")
    @classmethod
    def _protected_shorthand(cls, value: object) -> object:
        if isinstance(value, str):
            return {"min": value}
        return value


# --------------------------------------------------------------------------- probes


class ProbeBase(Strict):
    name: Slug
    every: Duration = Field(0.5, description="sampling interval (fixed rate)")
    timeout: Duration = Field(2.0, description="a sample slower than this fails")

    @model_validator(mode="after")
    def _positive_interval(self) -> ProbeBase:
        if self.every < 0.01:
            raise ValueError("'every' must be at least 10ms")
        if self.timeout <= 0:
            raise ValueError("'timeout' must be greater than zero")
        return self


class HttpProbe(ProbeBase):
    """An HTTP request; passes on the expected status, body text and latency."""

    model_config = ConfigDict(
        json_schema_extra=_also_accept(
            expect_status={"type": "integer", "minimum": 100, "maximum": 599}
        )
    )

    type: Literal["http"]
    url: str
    method: Literal["GET", "POST", "PUT", "DELETE", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    expect_status: list[int] = Field(default_factory=lambda: [200])
    body_contains: str | None = None
    max_latency: Duration | None = None

    @field_validator("expect_status", mode="before")
    @classmethod
    def _one_status(cls, value: object) -> object:
        return [value] if isinstance(value, int) and not isinstance(value, bool) else value


class TcpProbe(ProbeBase):
    """A TCP connect."""

    type: Literal["tcp"]
    host: str = "127.0.0.1"
    port: int = Field(..., ge=1, le=65535)


class SqlProbe(ProbeBase):
    """A SQL query; passes when it runs (and returns `expect` when given)."""

    type: Literal["sql"]
    dsn: str = Field(
        ..., description="connection string; passwords only as ${env:NAME} or ${file:path}"
    )
    query: str = "SELECT 1"
    expect: str | None = Field(None, description="expected first column of the first row, as text")


class LedgerProbe(ProbeBase):
    """Writes sequence numbers and records which were acknowledged, to count lost writes."""

    type: Literal["ledger"]
    dsn: str = Field(..., description="connection string of the writer endpoint")
    table: str = Field("gameday_ledger", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    verify_dsn: str | None = Field(None, description="where to read back (default: dsn)")


class CommandProbe(ProbeBase):
    """A local command; passes on the expected exit code."""

    model_config = ConfigDict(
        json_schema_extra=_also_accept(run={"type": "string", "minLength": 1})
    )

    type: Literal["command"]
    run: list[str] = Field(..., min_length=1, description="argv, no shell")
    expect_exit: int = 0

    @field_validator("run", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        import shlex

        return shlex.split(value) if isinstance(value, str) else value


class PrometheusProbe(ProbeBase):
    """A Prometheus instant query compared with a bound, e.g. `expect: '< 0.05'`."""

    type: Literal["prometheus"]
    url: str = Field(..., description="Prometheus base URL")
    query: str
    expect: str = Field(..., pattern=r"^\s*(<|<=|>|>=|==|!=)\s*-?\d+(\.\d+)?([eE]-?\d+)?\s*$")


class AlertProbe(ProbeBase):
    """Alerts received on the drill's Alertmanager-compatible webhook; passes while none fires."""

    type: Literal["alert"]
    match: dict[str, str] = Field(default_factory=dict, description="labels an alert must carry")


AnyProbe = (
    HttpProbe | TcpProbe | SqlProbe | LedgerProbe | CommandProbe | PrometheusProbe | AlertProbe
)
Probe = Annotated[AnyProbe, Field(discriminator="type")]


class SteadyState(Strict):
    """What "healthy" means: every probe passes, for `stable_for` in a row."""

    stable_for: Duration = Field(10.0, description="how long every probe must pass in a row")
    probes: list[Probe] = Field(..., min_length=1)
    min_traffic_success: Percent | None = Field(
        None, description="user success rate per second that also counts as healthy"
    )


# --------------------------------------------------------------------------- traffic


class Traffic(Strict):
    """Synthetic users from Locust for the whole drill."""

    users: int = Field(10, ge=1, le=100_000)
    spawn_rate: float = Field(10.0, gt=0, le=10_000, description="users started per second")
    profile: Literal["payments", "promotion"] | None = Field(
        None,
        description="built-in user profile: payments, or promotion (a surge adds coupon hunters)",
    )
    locustfile: str | None = Field(
        None, description="path to your own locustfile (relative to the scenario)"
    )
    host: str = Field("{{ target.url }}", description="base URL the users call")
    workers: int = Field(0, ge=0, le=64, description="Locust workers (0: one local process)")
    max_requests: int = Field(
        2_000_000, ge=1, description="hard cap on requests for the whole drill"
    )

    @model_validator(mode="after")
    def _one_source(self) -> Traffic:
        if self.profile and self.locustfile:
            raise ValueError("give either 'profile' or 'locustfile', not both")
        if not self.profile and not self.locustfile:
            return self.model_copy(update={"profile": "payments"})
        return self


# --------------------------------------------------------------------------- faults


class FaultBase(Strict):
    name: Slug | None = Field(None, description="defaults to <action>-<service>")
    at: Duration = Field(0.0, description="when, after the baseline ends")
    duration: Duration | None = Field(
        None, description="how long it stays in force; without it, until the drill's teardown"
    )

    def label(self) -> str:
        """The fault's name, or one made from its action and what it acts on."""
        return self.name or f"{getattr(self, 'action', 'fault')}-{self.subject()}"

    def subject(self) -> str:
        """What the fault acts on, for plans and reports."""
        return str(getattr(self, "service", "") or "system")


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


# --------------------------------------------------------------------------- people and limits


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


# --------------------------------------------------------------------------- documents


class Scenario(Strict):
    """One drill."""

    api_version: Literal["gameday/v1"] = Field(..., alias="apiVersion")
    kind: Literal["Scenario"]
    name: Slug
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    vars: dict[str, str] = Field(default_factory=dict, description="values for {{ vars.NAME }}")
    target: Target
    objectives: Objectives = Objectives()
    traffic: Traffic | None = None
    steady_state: SteadyState
    evidence: list[Probe] = Field(
        default_factory=list, description="probes recorded but not judged"
    )
    faults: list[Fault] = Field(..., min_length=1)
    manual_steps: list[ManualStep] = Field(default_factory=list)
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
    audit: Audit = Audit()
