"""The embedded staging as a target (``target: sandbox``): its driver and fault actions."""

from __future__ import annotations

from .driver import DRIVER, SandboxDriver, runtime_settings
from .links import LatencyAction, NetworkCutAction, PartitionAction
from .processes import CrashAction, PauseAction, StopAction, descendants, proc_state
from .release import GrayReleaseAction

SandboxDriver.actions = {
    "crash": CrashAction(),
    "stop": StopAction(),
    "pause": PauseAction(),
    "network-cut": NetworkCutAction(),
    "partition": PartitionAction(),
    "latency": LatencyAction(),
    "gray-release": GrayReleaseAction(),
}

__all__ = ["DRIVER", "SandboxDriver", "descendants", "proc_state", "runtime_settings"]
