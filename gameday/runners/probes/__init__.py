"""Probe implementations, one module per probe type, and the factory that builds them."""

from __future__ import annotations

from ...scenarios.model import (
    AlertProbe as AlertProbeModel,
)
from ...scenarios.model import (
    AnyProbe,
)
from ...scenarios.model import (
    CommandProbe as CommandProbeModel,
)
from ...scenarios.model import (
    HttpProbe as HttpProbeModel,
)
from ...scenarios.model import (
    LedgerProbe as LedgerProbeModel,
)
from ...scenarios.model import (
    PrometheusProbe as PrometheusProbeModel,
)
from ...scenarios.model import (
    SqlProbe as SqlProbeModel,
)
from ...scenarios.model import (
    TcpProbe as TcpProbeModel,
)
from ..receiver import AlertReceiver
from .alert import AlertProbe
from .base import Observation, Probe
from .command import CommandProbe
from .http import HttpProbe, ServerTiming, parse_server_timing
from .ledger import LedgerProbe, LedgerResult
from .prometheus import PrometheusProbe
from .sql import SqlProbe
from .tcp import TcpProbe

__all__ = [
    "AlertProbe",
    "CommandProbe",
    "HttpProbe",
    "LedgerProbe",
    "LedgerResult",
    "Observation",
    "Probe",
    "PrometheusProbe",
    "ServerTiming",
    "SqlProbe",
    "TcpProbe",
    "build_probe",
    "parse_server_timing",
]


def build_probe(model: AnyProbe, *, run_id: str, receiver: AlertReceiver | None) -> Probe:
    """The probe for a (variable-rendered) scenario probe model."""
    if isinstance(model, HttpProbeModel):
        return HttpProbe(model)
    if isinstance(model, TcpProbeModel):
        return TcpProbe(model)
    if isinstance(model, SqlProbeModel):
        return SqlProbe(model)
    if isinstance(model, LedgerProbeModel):
        return LedgerProbe(model, run_id)
    if isinstance(model, CommandProbeModel):
        return CommandProbe(model)
    if isinstance(model, PrometheusProbeModel):
        return PrometheusProbe(model)
    if isinstance(model, AlertProbeModel):
        if receiver is None:
            raise ValueError(f"probe {model.name!r}: an alert probe needs the drill's receiver")
        return AlertProbe(model, receiver)
    raise TypeError(f"unknown probe model {type(model).__name__}")
