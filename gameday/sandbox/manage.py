"""Management API of the embedded staging: up, status, down, start/stop/kill a component.

Used by the CLI (``gameday sandbox up|status|down``) and by the drill engine's sandbox
driver. Each job lives in a module of its own; this one names them together:

- ``startup``: :func:`up`
- ``status``: :func:`status`, :func:`component_pid`
- ``control``: :func:`start_component`, :func:`stop_component`, :func:`kill_component`
- ``teardown``: :func:`down`
"""

from __future__ import annotations

from gameday.sandbox.control import kill_component, start_component, stop_component
from gameday.sandbox.startup import up
from gameday.sandbox.status import ComponentStatus, SandboxStatus, component_pid, status
from gameday.sandbox.teardown import DownReport, down

__all__ = [
    "ComponentStatus",
    "DownReport",
    "SandboxStatus",
    "component_pid",
    "down",
    "kill_component",
    "start_component",
    "status",
    "stop_component",
    "up",
]
