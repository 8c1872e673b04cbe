"""Observing the embedded staging: each component's pid, health, role and version.

A component's pid is its recorded process (PostgreSQL: the postmaster's, from
``postmaster.pid``) while it lives; health and role come from its own ``/health`` endpoint
or, for a database, from PostgreSQL itself.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
from pydantic import BaseModel

from gameday.sandbox.state import (
    SandboxError,
    SandboxState,
    current_writer,
    load_state,
    pid_alive,
    postmaster_info,
    resolve_state_dir,
)


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
    writer = current_writer(sd)
    with ThreadPoolExecutor(max_workers=len(state.components)) as pool:
        comps = list(pool.map(lambda n: _one_status(state, n, writer), state.components))
    return SandboxStatus(
        state_dir=str(sd),
        gateway_url=state.gateway_url,
        running=any(c.pid for c in comps),
        writer=writer,
        components=comps,
    )
