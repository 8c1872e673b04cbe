"""Starting, stopping and killing one component of a running embedded staging.

A database that is not the current writer comes back as its standby; a former primary is
re-cloned from the writer first, so it can never serve as a second primary.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from gameday.sandbox import postgres as pg
from gameday.sandbox.events import EventLog
from gameday.sandbox.launch import (
    manage_events,
    record_pid,
    spawn_python,
    start_db_process,
    wait_http,
)
from gameday.sandbox.state import (
    SandboxError,
    SandboxState,
    current_writer,
    group_members,
    load_state,
    resolve_state_dir,
    save_state,
    signal_pid,
    state_lock,
)
from gameday.sandbox.status import component_pid


def start_component(state_dir: Path | None, name: str) -> int:
    """Bring a stopped or crashed component back and return its pid.

    A database that is not the current writer comes back as its standby; a former
    primary is re-cloned from the writer with pg_basebackup first, so it can never
    serve as a second primary (no split brain).
    """
    sd = resolve_state_dir(state_dir)
    with state_lock(sd):
        state = load_state(sd)
        if name not in state.components:
            raise SandboxError(f"no component {name!r}; known: {', '.join(state.components)}")
        current = component_pid(sd, name)
        if current is not None:
            return current
        events = manage_events(sd)
        comp = state.components[name]
        if comp.kind != "postgres":
            pid = spawn_python(state, name)
            record_pid(state, name, pid)
            save_state(state)
            wait_http(comp.url, pid, state.settings.ready_timeout_s, sd / "logs" / f"{name}.log")
            events.emit("component_started", target=name, pid=pid)
            return pid
        pid = _start_database(state, name, events)
        save_state(state)
        return pid


def _start_database(state: SandboxState, name: str, events: EventLog) -> int:
    sd = Path(state.state_dir)
    comp = state.components[name]
    assert comp.data_dir is not None
    data_dir = Path(comp.data_dir)
    writer = current_writer(sd)
    if name == writer:
        pid = start_db_process(state, name)
        events.emit("component_started", target=name, pid=pid, role="primary")
        return pid
    if component_pid(sd, writer) is None:
        raise SandboxError(f"cannot start {name} as a standby: the writer {writer} is down")
    rejoined = False
    if not (data_dir / "standby.signal").exists():
        # a former primary may hold writes the new primary never saw: re-clone it
        link = state.link(name, writer)
        pg.base_backup(
            Path(state.pg_bin_dir),
            data_dir,
            link.listen_port,
            state.db_user,
            state.db_password,
            state.pg_run_as,
        )
        rejoined = True
    pid = start_db_process(state, name)
    streaming = pg.wait_streaming(state.dsn(writer), state.settings.ready_timeout_s)
    if streaming and state.settings.replication_mode == "sync":
        pg.set_sync_standby(state.dsn(writer), True)
    events.emit(
        "rejoined_as_standby" if rejoined else "component_started",
        target=name,
        pid=pid,
        role="standby",
        primary=writer,
        streaming=streaming,
    )
    return pid


def stop_component(state_dir: Path | None, name: str, timeout_s: float = 10.0) -> None:
    """Stop a component gracefully (PostgreSQL: fast shutdown), killing it after ``timeout_s``."""
    sd = resolve_state_dir(state_dir)
    pid = component_pid(sd, name)
    if pid is None:
        return
    state = load_state(sd)
    if state.components[name].kind == "postgres":
        pg.stop(pid, timeout_s)
    else:
        _terminate_group(pid, timeout_s)
    manage_events(sd).emit("component_stopped", target=name, pid=pid)


def kill_component(
    state_dir: Path | None, name: str, sig: signal.Signals = signal.SIGKILL
) -> int | None:
    """Send ``sig`` (default SIGKILL: a crash) to the component's main process; returns its pid."""
    sd = resolve_state_dir(state_dir)
    pid = component_pid(sd, name)
    if pid is not None and signal_pid(pid, sig):
        manage_events(sd).emit("component_killed", target=name, pid=pid, signal=sig.name)
    return pid


def _terminate_group(pgid: int, timeout_s: float) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and group_members({pgid}):
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
