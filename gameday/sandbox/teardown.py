"""Tearing the embedded staging down: stop every component, sweep leftovers, remove the data.

A sweep also cleans up after a sandbox that crashed: whatever is left in the process groups
its components ever ran in, anything naming its state dir, and PostgreSQL's shared memory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel

from gameday.sandbox import postgres as pg
from gameday.sandbox.launch import manage_events
from gameday.sandbox.state import (
    STATE_FILE,
    WRITER_FILE,
    SandboxState,
    group_members,
    load_state,
    pid_alive,
    postmaster_info,
    proc_cmdline,
    resolve_state_dir,
    save_state,
    signal_pid,
)
from gameday.sandbox.status import component_pid
from gameday.sandbox.topology import DATABASES

# stop order: controllers first so nothing reacts to the teardown, databases last
STOP_ORDER = (
    "failover",
    "alerting",
    "release",
    "gateway",
    "api-canary",
    "api-b",
    "api-a",
    "proxy",
    "db-standby",
    "db-primary",
)
# the files of a running sandbox (logs and events stay for the post-mortem)
RUN_FILES = (STATE_FILE, WRITER_FILE, "receiver.json")


class DownReport(BaseModel):
    """What down() stopped and cleaned."""

    stopped: list[str]
    killed_pids: list[int]
    removed_shm: list[int]


def remove_run_files(state_dir: Path) -> None:
    """Delete the state and writer files and the alert receiver's, if there."""
    for name in RUN_FILES:
        (state_dir / name).unlink(missing_ok=True)


def _ours(state: SandboxState, pid: int) -> bool:
    cmd = proc_cmdline(pid)
    return state.state_dir in cmd or "postgres" in cmd or "gameday.sandbox" in cmd


def _names_state_dir(cmdline: str, state_dir: str) -> bool:
    """Whether a command line is one of our components or a postgres on our data dirs."""
    cmd = cmdline + " "
    return f"--state-dir {state_dir} " in cmd or f"-D {state_dir}/pg/" in cmd


def sweep(state: SandboxState) -> tuple[list[int], list[int]]:
    """SIGKILL whatever is left in our process groups (and anything naming our state dir)."""
    pgids = {g for c in state.components.values() for g in c.pgids}
    killed: list[int] = []
    for _ in range(50):  # bounded: a few seconds at most
        victims = [p for p in group_members(pgids) if _ours(state, p)]
        victims += [
            int(e)
            for e in os.listdir("/proc")
            if e.isdigit()
            and int(e) != os.getpid()
            and pid_alive(int(e))
            and _names_state_dir(proc_cmdline(int(e)), state.state_dir)
        ]
        for d in DATABASES:
            data_dir = state.components[d].data_dir
            pm, shm = postmaster_info(Path(data_dir)) if data_dir else (None, None)
            if shm is not None and shm not in state.shm_ids:
                state.shm_ids.append(shm)
            if pm is not None and data_dir and data_dir in proc_cmdline(pm):
                victims.append(pm)
        victims = sorted(set(victims))
        if not victims:
            break
        for p in victims:
            if signal_pid(p, signal.SIGKILL) and p not in killed:
                killed.append(p)
        time.sleep(0.1)
    removed = pg.remove_shm_segments(state.shm_ids)
    return killed, removed


def down(state_dir: Path | None = None) -> DownReport:
    """Stop every component, sweep leftovers (processes, shared memory) and remove the data.

    Logs and events.jsonl stay in the state dir for the post-mortem.
    """
    sd = resolve_state_dir(state_dir)
    state = load_state(sd)
    stopped: list[str] = []
    # every component gets its stop signal at once; then wait, bounded
    waits: list[tuple[str, int]] = []
    for name in STOP_ORDER:
        pid = component_pid(sd, name)
        if pid is None:
            continue
        if state.components[name].kind == "postgres":
            signal_pid(pid, signal.SIGINT)  # fast shutdown: clean, releases shared memory
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
        waits.append((name, pid))
    deadline = time.monotonic() + 8.0
    for name, pid in waits:
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.05)
        stopped.append(name)
    killed, removed = sweep(state)
    save_state(state)
    manage_events(sd).emit("sandbox_down", stopped=stopped, killed=killed, removed_shm=removed)
    for root in {Path(c.data_dir).parent for c in state.components.values() if c.data_dir}:
        # state.json is a file anyone could have edited: remove only the clusters' roots
        # gameday makes (`<state dir>/pg`, or a `gameday-pg-*` dir beside the temp dir)
        tmp = Path(tempfile.gettempdir())
        if root == sd / "pg" or (root.name.startswith("gameday-pg-") and root.parent == tmp):
            shutil.rmtree(root, ignore_errors=True)
    remove_run_files(sd)
    return DownReport(stopped=stopped, killed_pids=killed, removed_shm=removed)
