"""The scenario model: a typed, immutable description of a drill (and of a suite of drills).

Pure data and validation, no I/O. Field names are the YAML keys; units are parsed by
`units` so every duration here is seconds, every percentage a fraction. One module per
part of the document; every name is importable from here, as ``gameday.scenarios.model``.
"""

from .base import ServiceName, Slug, Strict, _also_accept
from .conduct import (
    Audit,
    AvailabilityFloor,
    DayNightDeadline,
    Guardrails,
    ManualStep,
    NightWindow,
    Participant,
)
from .documents import API_VERSION, Scenario, Suite
from .faults import (
    FAULT_ACTIONS,
    AnyFault,
    CommandFault,
    CrashFault,
    Fault,
    FaultBase,
    GrayReleaseFault,
    LatencyFault,
    LoadSurgeFault,
    NetworkCutFault,
    PartitionFault,
    PauseFault,
    StopFault,
)
from .objectives import (
    DEFAULT_RECOVERY_OBJECTIVE_S,
    DataLossObjective,
    Objectives,
    ProtectedSuccessObjective,
)
from .probes import (
    AlertProbe,
    AnyProbe,
    CommandProbe,
    HttpProbe,
    LedgerProbe,
    Probe,
    ProbeBase,
    PrometheusProbe,
    SqlProbe,
    SteadyState,
    TcpProbe,
)
from .targets import AnyTarget, DockerTarget, KubernetesTarget, SandboxSettings, SandboxTarget
from .traffic import Traffic

__all__ = [
    "API_VERSION",
    "DEFAULT_RECOVERY_OBJECTIVE_S",
    "FAULT_ACTIONS",
    "AlertProbe",
    "AnyFault",
    "AnyProbe",
    "AnyTarget",
    "Audit",
    "AvailabilityFloor",
    "CommandFault",
    "CommandProbe",
    "CrashFault",
    "DataLossObjective",
    "DayNightDeadline",
    "DockerTarget",
    "Fault",
    "FaultBase",
    "GrayReleaseFault",
    "Guardrails",
    "HttpProbe",
    "KubernetesTarget",
    "LatencyFault",
    "LedgerProbe",
    "LoadSurgeFault",
    "ManualStep",
    "NetworkCutFault",
    "NightWindow",
    "Objectives",
    "Participant",
    "PartitionFault",
    "PauseFault",
    "Probe",
    "ProbeBase",
    "PrometheusProbe",
    "ProtectedSuccessObjective",
    "SandboxSettings",
    "SandboxTarget",
    "Scenario",
    "ServiceName",
    "Slug",
    "SqlProbe",
    "SteadyState",
    "StopFault",
    "Strict",
    "Suite",
    "TcpProbe",
    "Traffic",
    "_also_accept",
]
