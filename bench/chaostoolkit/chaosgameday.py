"""Chaos Toolkit actions for the embedded staging, over gameday's sandbox management API.

Loaded by ``chaos run`` as a python provider (``module: chaosgameday``) from the benchmark's
own Chaos Toolkit venv, with the repository on PYTHONPATH. They call the same functions
gameday's sandbox driver calls, so both tools inject and revert the same way, and the
sandbox records the kill in its ``events.jsonl`` (the benchmark's ground truth).
"""

from __future__ import annotations

import time
from pathlib import Path

from gameday.sandbox import manage
from gameday.sandbox.client import SandboxClient
from gameday.sandbox.state import SandboxError, load_state

__all__ = ["kill_component", "restart_component"]


def kill_component(state_dir: str, name: str) -> int:
    """SIGKILL the component's main process (a crash); returns the pid that was killed."""
    pid = manage.kill_component(Path(state_dir), name)
    if pid is None:
        raise RuntimeError(f"{name} is not running in {state_dir}")
    return pid


def _await_failover_settled(state_dir: Path) -> None:
    """Wait until the failover controller is not counting failures (it has decided)."""
    state = load_state(state_dir)
    s = state.settings
    deadline = time.monotonic() + s.health_period_s * s.failure_threshold * 3 + 5.0
    client = SandboxClient(state)
    try:
        while time.monotonic() < deadline:
            try:
                status = client.failover_status()
            except SandboxError:
                return  # no controller: nothing can race the restart
            if not status.get("enabled") or not status.get("consecutive_failures"):
                return
            time.sleep(s.health_period_s / 2)
    finally:
        client.close()


def restart_component(state_dir: str, name: str) -> int:
    """Start a crashed component again; a former primary rejoins as the new writer's standby.

    Mirrors gameday's sandbox driver: never start a database while a promotion is still
    being decided, and start again if that promotion fenced what was just started.
    """
    sd = Path(state_dir)
    for _attempt in range(3):
        _await_failover_settled(sd)
        manage.start_component(sd, name)
        time.sleep(0.2)
        _await_failover_settled(sd)
        pid = manage.component_pid(sd, name)
        if pid is not None:
            return pid
    raise RuntimeError(f"{name} did not stay up after restart")
