"""Containers on a Docker engine as a target (``target: {type: docker, project: NAME}``).

``driver`` finds and reports on the containers; ``containers`` (crash, stop, pause) and
``network`` (network-cut, partition, latency) are its fault actions, ``netns`` the iptables
and tc netem helpers, ``relay`` the alert receiver's way into the containers' network.
"""

from __future__ import annotations

from .containers import CrashAction, PauseAction, StopAction
from .driver import DRIVER, DockerDriver
from .netns import netem_available
from .network import LatencyAction, NetworkCutAction, PartitionAction

DockerDriver.actions = {
    "crash": CrashAction(),
    "stop": StopAction(),
    "pause": PauseAction(),
    "network-cut": NetworkCutAction(),
    "partition": PartitionAction(),
    "latency": LatencyAction(),
}

__all__ = ["DRIVER", "DockerDriver", "netem_available"]
