"""Probe implementations, one module per probe type, and the factory that builds them.

Runtime probes are named `<Type>Prober`; `<Type>Probe` is the scenario model it is built
from (gameday/scenarios/model/probes.py). A new probe type is one module with a `Prober` subclass
and one entry in `PROBER_TYPES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...scenarios.model import AnyProbe
from ..receiver import AlertReceiver
from .alert import AlertProber
from .base import Observation, Probe, Prober
from .command import CommandProber
from .http import HttpProber, ServerTiming, parse_server_timing
from .ledger import LedgerProber, LedgerResult
from .prometheus import PrometheusProber
from .sql import SqlProber
from .tcp import TcpProber

__all__ = [
    "PROBER_TYPES",
    "AlertProber",
    "CommandProber",
    "HttpProber",
    "LedgerProber",
    "LedgerResult",
    "Observation",
    "Probe",
    "Prober",
    "PrometheusProber",
    "ServerTiming",
    "SqlProber",
    "TcpProber",
    "build_probe",
    "parse_server_timing",
]

# the Prober class for each scenario probe `type`
PROBER_TYPES: Mapping[str, type[Prober[Any]]] = {
    "http": HttpProber,
    "tcp": TcpProber,
    "sql": SqlProber,
    "ledger": LedgerProber,
    "command": CommandProber,
    "prometheus": PrometheusProber,
    "alert": AlertProber,
}


def build_probe(model: AnyProbe, *, run_id: str, receiver: AlertReceiver | None) -> Probe:
    """The probe for a (variable-rendered) scenario probe model."""
    prober = PROBER_TYPES.get(model.type)
    if prober is None:
        raise TypeError(f"unknown probe model {type(model).__name__}")
    return prober.build(model, run_id=run_id, receiver=receiver)
