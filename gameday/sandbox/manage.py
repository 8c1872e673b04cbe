"""Management API of the embedded staging: up, status, down, start/stop/kill a component.

Used by the CLI (``gameday sandbox up|status|down``) and by the drill engine's sandbox
driver. Every component is a separate process in its own session, so faults are real
and the sandbox outlives the command that started it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from pydantic import BaseModel

from gameday.ports import free_ports
from gameday.sandbox import postgres as pg
from gameday.sandbox.events import EVENTS_FILE, EventLog
from gameday.sandbox.settings import SandboxSettings
from gameday.sandbox.state import (
    APIS,
    DATABASES,
    STATE_FILE,
    WRITER_FILE,
    ComponentInfo,
    Kind,
    LinkInfo,
    SandboxError,
    SandboxState,
    atomic_write_json,
    group_members,
    link_name,
    load_state,
    pid_alive,
    postmaster_info,
    proc_cmdline,
    read_writer,
    resolve_state_dir,
    save_state,
    signal_pid,
    state_lock,
)

# name -> (kind, python module or None for postgres, site)
COMPONENTS: dict[str, tuple[Kind, str | None, str | None]] = {
    "proxy": ("proxy", "proxy", None),
    "db-primary": ("postgres", None, "a"),
    "db-standby": ("postgres", None, "b"),
    "api-a": ("api", "api", "a"),
    "api-b": ("api", "api", "b"),
    "api-canary": ("api", "api", "a"),
    "gateway": ("gateway", "gateway", None),
    "failover": ("failover", "failover", None),
    "release": ("release", "release", None),
    "alerting": ("alerting", "alerting", None),
}
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
GROUPS = {
    "site-a": ["api-a", "api-canary", "db-primary"],
    "site-b": ["api-b", "db-standby"],
    "apis": list(APIS),
    "databases": list(DATABASES),
}


def link_pairs() -> list[tuple[str, str]]:
    """Every (src, dst) pair that talks through the fault proxy."""
    pairs = [("gateway", api) for api in APIS]
    pairs += [(api, db) for api in APIS for db in DATABASES]
    pairs += [("db-standby", "db-primary"), ("db-primary", "db-standby")]  # replication
    pairs += [("failover", db) for db in DATABASES]
    return pairs


class ComponentStatus(BaseModel):
    """Observed state of one component."""

    name: str
    kind: str
    pid: int | None
    port: int
    role: str
    healthy: bool
    version: str | None = None
    detail: dict[str, Any] = {}


class SandboxStatus(BaseModel):
    """Observed state of the whole sandbox."""

    state_dir: str
    gateway_url: str
    running: bool
    writer: str
    components: list[ComponentStatus]

    def component(self, name: str) -> ComponentStatus:
        """The status of component ``name``."""
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)


class DownReport(BaseModel):
    """What down() stopped and cleaned."""

    stopped: list[str]
    killed_pids: list[int]
    removed_shm: list[int]


# --- helpers ------------------------------------------------------------------------------


def _events(state_dir: Path) -> EventLog:
    return EventLog(state_dir, "manage")


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _spawn_python(state: SandboxState, name: str) -> int:
    module = COMPONENTS[name][1]
    assert module is not None
    sd = Path(state.state_dir)
    with (sd / "logs" / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                f"gameday.sandbox.{module}",
                "--state-dir",
                str(sd),
                "--name",
                name,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=sd,
            env=_child_env(),
        )
    return proc.pid


def _record_pid(state: SandboxState, name: str, pid: int) -> None:
    comp = state.components[name]
    comp.pid = pid
    if pid not in comp.pgids:
        comp.pgids.append(pid)


def _wait_http(url: str, pid: int, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise SandboxError(f"{url} exited during start-up: {pg.log_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return
        time.sleep(0.05)
    raise SandboxError(f"{url} not healthy after {timeout_s:.0f}s: {pg.log_tail(log)}")


def _start_db_process(state: SandboxState, name: str, dbname: str | None = None) -> int:
    comp = state.components[name]
    assert comp.data_dir is not None
    log = Path(state.state_dir) / "logs" / f"{name}.log"
    pg.await_previous_exit(Path(comp.data_dir))
    pid = pg.start(Path(state.pg_bin_dir), Path(comp.data_dir), comp.port, log, state.pg_run_as)
    _record_pid(state, name, pid)
    pg.wait_ready(state.dsn(name, dbname=dbname), pid, log, state.settings.ready_timeout_s)
    _, shm = postmaster_info(Path(comp.data_dir))
    if shm is not None and shm not in state.shm_ids:
        state.shm_ids.append(shm)
    return pid


def _reset_state_dir(sd: Path) -> None:
    """Clear what a previous (stopped) sandbox left, keeping its events as events.prev.jsonl."""
    for name in (STATE_FILE, WRITER_FILE, "receiver.json"):
        (sd / name).unlink(missing_ok=True)
    if (sd / EVENTS_FILE).exists():
        os.replace(sd / EVENTS_FILE, sd / "events.prev.jsonl")
    shutil.rmtree(sd / "pg", ignore_errors=True)


# --- up -----------------------------------------------------------------------------------


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
    sd.mkdir(parents=True, exist_ok=True)
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
        _sweep(old)  # a crashed sandbox: clean its leftovers first
    _reset_state_dir(sd)
    (sd / "logs").mkdir(exist_ok=True)
    bin_dir = pg.resolve_bin_dir(settings.pg_bin_dir)
    run_as = pg.ensure_run_as(settings.pg_user)
    pg_root = pg.data_root(sd, run_as)
    for name in DATABASES:
        shutil.rmtree(pg_root / name, ignore_errors=True)  # a stopped sandbox's old clusters

    pairs = link_pairs()
    ports = iter(free_ports(len(COMPONENTS) + len(pairs)))
    components: dict[str, ComponentInfo] = {}
    for name, (kind, _, site) in COMPONENTS.items():
        components[name] = ComponentInfo(
            name=name,
            kind=kind,
            port=next(ports),
            site=site,
            data_dir=str(pg_root / name) if kind == "postgres" else None,
            version="v1" if kind == "api" else None,
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
    atomic_write_json(sd / WRITER_FILE, {"writer": "db-primary", "epoch": 0, "reason": "initial"})
    events = _events(sd)
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
        _record_pid(state, name, _spawn_python(state, name))
    save_state(state)

    primary, standby = state.components["db-primary"], state.components["db-standby"]
    assert primary.data_dir is not None and standby.data_dir is not None
    bin_dir = Path(state.pg_bin_dir)
    pg.initdb(bin_dir, Path(primary.data_dir), state.db_user, state.db_password, state.pg_run_as)
    _start_db_process(state, "db-primary", dbname="postgres")
    with pg.connect(state.dsn("db-primary", dbname="postgres")) as conn:
        conn.execute(f"CREATE DATABASE {state.db_name}")
    with pg.connect(state.dsn("db-primary")) as conn:
        conn.execute(pg.SCHEMA)
    save_state(state)
    events.emit("started_db", db="db-primary", role="primary")

    _wait_http(
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
    _start_db_process(state, "db-standby")
    if not pg.wait_streaming(state.dsn("db-primary"), s.ready_timeout_s):
        raise SandboxError("the standby did not start streaming from the primary")
    if s.replication_mode == "sync":
        pg.set_sync_standby(state.dsn("db-primary"), True)
    save_state(state)
    events.emit("started_db", db="db-standby", role="standby", replication=s.replication_mode)

    for name in (*APIS, "release"):
        comp = state.components[name]
        _wait_http(comp.url, comp.pid or 0, s.ready_timeout_s, logs / f"{name}.log")
    # the gateway starts once both sites answer, so it never fails over during start-up
    for name in ("gateway", "failover", "alerting"):
        _record_pid(state, name, _spawn_python(state, name))
    save_state(state)
    for name in ("gateway", "failover", "alerting"):
        comp = state.components[name]
        _wait_http(comp.url, comp.pid or 0, s.ready_timeout_s, logs / f"{name}.log")


# --- pids and status ----------------------------------------------------------------------


def component_pid(state_dir: Path, name: str) -> int | None:
    """Current pid of ``name`` (PostgreSQL: the postmaster's, from postmaster.pid), None if down."""
    state = load_state(resolve_state_dir(state_dir))
    if name not in state.components:
        raise SandboxError(f"no component {name!r}; known: {', '.join(state.components)}")
    comp = state.components[name]
    if comp.kind == "postgres":
        assert comp.data_dir is not None
        pid, _ = postmaster_info(Path(comp.data_dir))
        return pid
    return comp.pid if pid_alive(comp.pid) else None


def _db_role(state: SandboxState, name: str) -> tuple[bool, str, dict[str, Any]]:
    try:
        with psycopg.connect(
            state.dsn(name, app="gameday_status"), autocommit=True, connect_timeout=2
        ) as conn:
            row = conn.execute(
                "SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names')"
            ).fetchone()
            assert row is not None
            in_recovery, sync_names = bool(row[0]), str(row[1])
            detail: dict[str, Any] = {"sync_standby_names": sync_names}
            if not in_recovery:
                rep = conn.execute(
                    "SELECT application_name, state, sync_state FROM pg_stat_replication"
                ).fetchall()
                detail["replicas"] = [{"app": r[0], "state": r[1], "sync": r[2]} for r in rep]
            return True, "standby" if in_recovery else "primary", detail
    except psycopg.Error as exc:
        return (
            False,
            "down",
            {"error": str(exc).strip().splitlines()[0] if str(exc).strip() else "error"},
        )


def _http_status(url: str) -> tuple[bool, dict[str, Any]]:
    try:
        r = httpx.get(f"{url}/health", timeout=1.0)
        body: dict[str, Any] = (
            r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        )
        return r.status_code == 200, body
    except (httpx.HTTPError, ValueError):
        return False, {}


def _one_status(state: SandboxState, name: str, writer: str) -> ComponentStatus:
    comp = state.components[name]
    pid = component_pid(Path(state.state_dir), name)
    version: str | None = None
    if comp.kind == "postgres":
        healthy, role, detail = _db_role(state, name) if pid else (False, "down", {})
        if healthy and name == writer and role == "primary":
            role = "primary (writer)"
    else:
        healthy, detail = _http_status(comp.url) if pid else (False, {})
        role = comp.kind
        if comp.kind == "api":
            version = detail.get("version")
            role = f"api site-{comp.site}" if name != "api-canary" else "api canary"
        elif comp.kind == "gateway" and detail:
            w = detail.get("weights", {})
            role = f"gateway → site-{detail.get('active_site')}"
            version = f"{detail.get('stable_version')} {w.get('stable', 100):g}% / {detail.get('canary_version') or '-'} {w.get('canary', 0):g}%"
        elif comp.kind == "failover" and detail:
            role = "failover " + ("enabled" if detail.get("enabled") else "DISABLED")
        if not pid:
            role = "down"
    return ComponentStatus(
        name=name,
        kind=comp.kind,
        pid=pid,
        port=comp.port,
        role=role,
        healthy=healthy,
        version=version,
        detail=detail,
    )


def status(state_dir: Path | None = None) -> SandboxStatus:
    """Observe every component (pid, health, role, version); SandboxError if there is no sandbox."""
    sd = resolve_state_dir(state_dir)
    state = load_state(sd)
    writer = str(read_writer(sd).get("writer", "db-primary"))
    with ThreadPoolExecutor(max_workers=len(state.components)) as pool:
        comps = list(pool.map(lambda n: _one_status(state, n, writer), state.components))
    return SandboxStatus(
        state_dir=str(sd),
        gateway_url=state.gateway_url,
        running=any(c.pid for c in comps),
        writer=writer,
        components=comps,
    )


# --- start / stop / kill ------------------------------------------------------------------


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
        events = _events(sd)
        comp = state.components[name]
        if comp.kind != "postgres":
            pid = _spawn_python(state, name)
            _record_pid(state, name, pid)
            save_state(state)
            _wait_http(comp.url, pid, state.settings.ready_timeout_s, sd / "logs" / f"{name}.log")
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
    writer = str(read_writer(sd).get("writer", "db-primary"))
    if name == writer:
        pid = _start_db_process(state, name)
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
    pid = _start_db_process(state, name)
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
    _events(sd).emit("component_stopped", target=name, pid=pid)


def kill_component(
    state_dir: Path | None, name: str, sig: signal.Signals = signal.SIGKILL
) -> int | None:
    """Send ``sig`` (default SIGKILL: a crash) to the component's main process; returns its pid."""
    sd = resolve_state_dir(state_dir)
    pid = component_pid(sd, name)
    if pid is not None and signal_pid(pid, sig):
        _events(sd).emit("component_killed", target=name, pid=pid, signal=sig.name)
    return pid


def _terminate_group(pgid: int, timeout_s: float) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and group_members({pgid}):
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


# --- down ---------------------------------------------------------------------------------


def _ours(state: SandboxState, pid: int) -> bool:
    cmd = proc_cmdline(pid)
    return state.state_dir in cmd or "postgres" in cmd or "gameday.sandbox" in cmd


def _names_state_dir(cmdline: str, state_dir: str) -> bool:
    """Whether a command line is one of our components or a postgres on our data dirs."""
    cmd = cmdline + " "
    return f"--state-dir {state_dir} " in cmd or f"-D {state_dir}/pg/" in cmd


def _sweep(state: SandboxState) -> tuple[list[int], list[int]]:
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
    killed, removed = _sweep(state)
    save_state(state)
    _events(sd).emit("sandbox_down", stopped=stopped, killed=killed, removed_shm=removed)
    for root in {Path(c.data_dir).parent for c in state.components.values() if c.data_dir}:
        shutil.rmtree(root, ignore_errors=True)
    for name in (STATE_FILE, WRITER_FILE, "receiver.json"):
        (sd / name).unlink(missing_ok=True)
    return DownReport(stopped=stopped, killed_pids=killed, removed_shm=removed)
