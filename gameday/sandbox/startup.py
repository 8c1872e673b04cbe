"""Bringing the embedded staging up: pick ports, write its state, start every component.

Each component is a separate process in its own session, so faults are real and the
sandbox outlives the command that started it. The Python parts that need no database
start first (their imports overlap initdb); the gateway starts once both sites answer.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from gameday.ports import free_ports
from gameday.sandbox import postgres as pg
from gameday.sandbox.events import EVENTS_FILE, EventLog
from gameday.sandbox.launch import (
    manage_events,
    record_pid,
    spawn_python,
    start_db_process,
    wait_http,
)
from gameday.sandbox.pginstall import runnable_bin_dir
from gameday.sandbox.settings import SandboxSettings
from gameday.sandbox.state import (
    LOCK_FILE,
    OWNER_MARKER,
    STATE_FILE,
    WRITER_FILE,
    ComponentInfo,
    LinkInfo,
    SandboxError,
    SandboxState,
    link_name,
    load_state,
    resolve_state_dir,
    save_state,
    write_initial_writer,
)
from gameday.sandbox.status import component_pid
from gameday.sandbox.teardown import down, remove_run_files, sweep
from gameday.sandbox.topology import APIS, COMPONENTS, DATABASES, GROUPS, link_pairs

# what gameday itself puts in a state dir; anything else there is somebody's data
OWN_NAMES = frozenset(
    {
        OWNER_MARKER,
        STATE_FILE,
        WRITER_FILE,
        LOCK_FILE,
        EVENTS_FILE,
        "events.prev.jsonl",
        "receiver.json",
        "link-faults.json",
        "link-faults.lock",
        "drill.lock",
        "logs",
        "pg",
    }
)


def foreign_state_dir(sd: Path) -> str | None:
    """Why ``sd`` is not gameday's to use as a state dir (files it did not write), or None."""
    if not sd.is_dir() or (sd / OWNER_MARKER).exists():
        return None
    foreign = sorted(p.name for p in sd.iterdir() if p.name not in OWN_NAMES)
    if not foreign:
        return None
    shown = ", ".join(foreign[:5]) + (", …" if len(foreign) > 5 else "")
    return f"it holds files gameday did not create ({shown}); give an empty or new directory"


def claim_state_dir(sd: Path) -> None:
    """Refuse a state dir holding files gameday did not write; mark it as gameday's.

    A scenario's `state_dir` is taken from a file anyone may write (a pull request): `up`
    clears the state dir and `down` removes data dirs, so neither may touch a directory
    that is not gameday's own (a marker it wrote, or nothing but its own file names).
    """
    problem = foreign_state_dir(sd)
    if problem:
        raise SandboxError(f"refusing to use {sd} as a sandbox state dir: {problem}")
    sd.mkdir(parents=True, exist_ok=True)
    (sd / OWNER_MARKER).write_text("created by gameday: the sandbox may clear this directory\n")


def _reset_state_dir(sd: Path) -> None:
    """Clear what a previous (stopped) sandbox left, keeping its events as events.prev.jsonl."""
    remove_run_files(sd)
    if (sd / EVENTS_FILE).exists():
        os.replace(sd / EVENTS_FILE, sd / "events.prev.jsonl")
    shutil.rmtree(sd / "pg", ignore_errors=True)


_START_ATTEMPTS = 3


def up(settings: SandboxSettings | None = None) -> SandboxState:
    """Start a sandbox in ``settings.state_dir`` and return its state once every part is ready.

    Raises SandboxError when one is already running there or a part fails to start.
    """
    settings = settings or SandboxSettings()
    for attempt in range(1, _START_ATTEMPTS + 1):
        try:
            return _up_once(settings)
        except SandboxError as exc:
            # a port picked free was bound by someone else before our part bound it:
            # everything was stopped again, so start over on other ports
            if "address already in use" not in str(exc).lower() or attempt == _START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _up_once(settings: SandboxSettings) -> SandboxState:
    t_start = time.monotonic()
    sd = resolve_state_dir(settings.state_dir)
    claim_state_dir(sd)
    old: SandboxState | None = None
    if (sd / STATE_FILE).exists():
        with contextlib.suppress(SandboxError):
            old = load_state(sd)
    if old is not None:
        if any(component_pid(sd, n) is not None for n in old.components):
            raise SandboxError(
                f"a sandbox is already running in {sd} ({old.gateway_url}); "
                "run `gameday sandbox down` first"
            )
        sweep(old)  # a crashed sandbox: clean its leftovers first
    _reset_state_dir(sd)
    (sd / "logs").mkdir(exist_ok=True)
    run_as = pg.ensure_run_as(settings.pg_user)
    bin_dir = runnable_bin_dir(pg.resolve_bin_dir(settings.pg_bin_dir), run_as)
    pg_root = pg.data_root(sd, run_as)
    for name in DATABASES:
        shutil.rmtree(pg_root / name, ignore_errors=True)  # a stopped sandbox's old clusters

    pairs = link_pairs()
    ports = iter(free_ports(len(COMPONENTS) + len(pairs)))
    components: dict[str, ComponentInfo] = {}
    for name, comp in COMPONENTS.items():
        components[name] = ComponentInfo(
            name=name,
            kind=comp.kind,
            port=next(ports),
            site=comp.site,
            data_dir=str(pg_root / name) if comp.kind == "postgres" else None,
            version="v1" if comp.kind == "api" else None,
        )
    links = {
        link_name(src, dst): LinkInfo(
            name=link_name(src, dst),
            src=src,
            dst=dst,
            listen_port=next(ports),
            upstream_port=components[dst].port,
        )
        for src, dst in pairs
    }
    admin = {n: c.url for n, c in components.items() if c.kind not in ("postgres", "api")}
    state = SandboxState(
        state_dir=str(sd),
        created_wall=datetime.now(UTC).isoformat(timespec="seconds"),
        settings=settings.model_copy(update={"state_dir": sd}),
        gateway_url=components["gateway"].url,
        proxy_admin_url=components["proxy"].url,
        admin_urls=admin,
        components=components,
        links=links,
        groups=GROUPS,
        db_password=secrets.token_urlsafe(18),
        pg_bin_dir=str(bin_dir),
        pg_run_as=run_as,
    )
    save_state(state)
    write_initial_writer(sd)
    events = manage_events(sd)
    try:
        _bring_up(state, events)
    except BaseException:
        save_state(state)
        with contextlib.suppress(SandboxError):
            down(sd)
        raise
    save_state(state)
    events.emit(
        "sandbox_up", seconds=round(time.monotonic() - t_start, 2), gateway=state.gateway_url
    )
    return state


def _bring_up(state: SandboxState, events: EventLog) -> None:
    sd = Path(state.state_dir)
    s = state.settings
    logs = sd / "logs"
    # the Python parts that need no database start first: their imports overlap initdb
    for name in ("proxy", *APIS, "release"):
        record_pid(state, name, spawn_python(state, name))
    save_state(state)

    primary, standby = state.components["db-primary"], state.components["db-standby"]
    assert primary.data_dir is not None and standby.data_dir is not None
    bin_dir = Path(state.pg_bin_dir)
    pg.initdb(bin_dir, Path(primary.data_dir), state.db_user, state.db_password, state.pg_run_as)
    start_db_process(state, "db-primary", dbname="postgres")
    pg.create_ledger(state, "db-primary")
    save_state(state)
    events.emit("started_db", db="db-primary", role="primary")

    wait_http(
        state.components["proxy"].url, state.components["proxy"].pid or 0, 10, logs / "proxy.log"
    )
    repl = state.link("db-standby", "db-primary")
    pg.base_backup(
        bin_dir,
        Path(standby.data_dir),
        repl.listen_port,
        state.db_user,
        state.db_password,
        state.pg_run_as,
    )
    start_db_process(state, "db-standby")
    if not pg.wait_streaming(state.dsn("db-primary"), s.ready_timeout_s):
        raise SandboxError("the standby did not start streaming from the primary")
    if s.replication_mode == "sync":
        pg.set_sync_standby(state.dsn("db-primary"), True)
    save_state(state)
    events.emit("started_db", db="db-standby", role="standby", replication=s.replication_mode)

    for name in (*APIS, "release"):
        comp = state.components[name]
        wait_http(comp.url, comp.pid or 0, s.ready_timeout_s, logs / f"{name}.log")
    # the gateway starts once both sites answer, so it never fails over during start-up
    for name in ("gateway", "failover", "alerting"):
        record_pid(state, name, spawn_python(state, name))
    save_state(state)
    for name in ("gateway", "failover", "alerting"):
        comp = state.components[name]
        wait_http(comp.url, comp.pid or 0, s.ready_timeout_s, logs / f"{name}.log")
