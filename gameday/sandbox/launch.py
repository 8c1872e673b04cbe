"""Launching one component of the embedded staging and waiting until it is ready.

Python components run as ``python -m gameday.sandbox.<kind>`` in a session of their own
(so a fault on one never reaches its parent); PostgreSQL is started through ``postgres``.
Every pid goes into the state, so a teardown can sweep each process group it ever had.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gameday.sandbox import postgres as pg
from gameday.sandbox.events import EventLog
from gameday.sandbox.state import SandboxError, SandboxState, pid_alive, postmaster_info
from gameday.sandbox.topology import COMPONENTS


def manage_events(state_dir: Path) -> EventLog:
    """The event log as the management API writes to it."""
    return EventLog(state_dir, "manage")


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn_python(state: SandboxState, name: str) -> int:
    """Start Python component ``name`` in a new session, logging to logs/<name>.log."""
    module = COMPONENTS[name].module
    assert module is not None
    sd = Path(state.state_dir)
    with (sd / "logs" / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "--state-dir", str(sd), "--name", name],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=sd,
            env=_child_env(),
        )
    return proc.pid


def record_pid(state: SandboxState, name: str, pid: int) -> None:
    """Note ``pid`` as the component's (and its process group among those to sweep)."""
    comp = state.components[name]
    comp.pid = pid
    if pid not in comp.pgids:
        comp.pgids.append(pid)


def wait_http(url: str, pid: int, timeout_s: float, log: Path) -> None:
    """Wait until ``url``/health answers 200; SandboxError if the process dies or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise SandboxError(f"{url} exited during start-up: {pg.log_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return
        time.sleep(0.05)
    raise SandboxError(f"{url} not healthy after {timeout_s:.0f}s: {pg.log_tail(log)}")


def start_db_process(state: SandboxState, name: str, dbname: str | None = None) -> int:
    """Start database ``name`` on its data dir and wait until it accepts connections."""
    comp = state.components[name]
    assert comp.data_dir is not None
    log = Path(state.state_dir) / "logs" / f"{name}.log"
    pg.await_previous_exit(Path(comp.data_dir))
    pid = pg.start(Path(state.pg_bin_dir), Path(comp.data_dir), comp.port, log, state.pg_run_as)
    record_pid(state, name, pid)
    pg.wait_ready(state.dsn(name, dbname=dbname), pid, log, state.settings.ready_timeout_s)
    _, shm = postmaster_info(Path(comp.data_dir))
    if shm is not None and shm not in state.shm_ids:
        state.shm_ids.append(shm)
    return pid
