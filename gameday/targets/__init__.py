"""Target drivers behind one small interface (`base.Target`), found through `registry`.

The engine, the lock, `recover` and the CLI name no driver: they ask the registry for the
type a scenario names (or a journal records) and talk to the driver it builds.
"""

from __future__ import annotations

from .base import (
    FaultAction,
    FaultPlan,
    Health,
    Target,
    TargetError,
    UnknownService,
    UnsupportedFault,
)
from .registry import TargetType, make_target, register, target_from_spec, target_type

__all__ = [
    "FaultAction",
    "FaultPlan",
    "Health",
    "Target",
    "TargetError",
    "TargetType",
    "UnknownService",
    "UnsupportedFault",
    "make_target",
    "register",
    "target_from_spec",
    "target_type",
]
