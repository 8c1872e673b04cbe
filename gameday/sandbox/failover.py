"""Failover controller: health-checks the primary, promotes the standby, repoints writers."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from gameday.sandbox.db import AsyncDb, DbError
from gameday.sandbox.events import EventLog
from gameday.sandbox.httpd import Request, Response, error, json_response, serve
from gameday.sandbox.postgres import STANDBY_APP
from gameday.sandbox.runtime import periodic, run_component
from gameday.sandbox.state import (
    SandboxState,
    current_writer,
    postmaster_info,
    read_writer,
    signal_pid,
    write_writer,
)
from gameday.sandbox.topology import DATABASES


def other_db(db: str) -> str:
    """The other database of the pair."""
    return DATABASES[1] if db == DATABASES[0] else DATABASES[0]


class FailoverController:
    """Promotes the standby after ``failure_threshold`` consecutive failed checks of the primary."""

    def __init__(self, state: SandboxState, events: EventLog) -> None:
        s = self.settings = state.settings
        self.state = state
        self.state_dir = Path(state.state_dir)
        self.events = events
        self.enabled = s.failover_enabled
        self.failures = 0
        self.standby_failures = 0
        self.sync_relaxed = False
        self.skipped_reported = False
        self.last_promotion: dict[str, Any] | None = None
        # checks go through the proxy links failover-to-<db>, as a remote controller would
        self.dbs = {
            db: AsyncDb(
                state.dsn(db, via="failover", app="gameday_failover"), 2, s.health_timeout_s
            )
            for db in DATABASES
        }

    async def _role(self, db: str) -> str | None:
        """'primary', 'standby', or None when unreachable."""
        try:
            row = await self.dbs[db].fetchone("SELECT pg_is_in_recovery()")
        except DbError:
            return None
        return "standby" if row and row[0] else "primary"

    async def tick(self) -> None:
        """One health-check round."""
        writer = current_writer(self.state_dir)
        standby = other_db(writer)
        role = await self._role(writer)
        if role == "primary":
            if self.failures:
                self.events.emit("health_recovered", db=writer, after=self.failures)
            self.failures = 0
            self.skipped_reported = False
        else:
            self.failures += 1
            if self.failures <= self.settings.failure_threshold:
                self.events.emit("health_failed", db=writer, consecutive=self.failures, role=role)
            if self.failures >= self.settings.failure_threshold:
                await self._failover(writer, standby)
                return
        if self.settings.replication_mode == "sync" and not self.settings.sync_strict:
            await self._watch_standby(writer, standby)

    async def _failover(self, old: str, new: str) -> None:
        if not self.enabled:
            if not self.skipped_reported:
                self.skipped_reported = True
                self.events.emit("failover_skipped", db=old, reason="failover disabled")
            return
        role = await self._role(new)
        if role is None:
            self.events.emit("promote_failed", db=new, reason="standby unreachable")
            return
        try:
            if role == "standby":
                await self.dbs[new].fetchone("SELECT pg_promote(true, 10)")
            # a promoted standby must not wait for a standby of its own, or writes hang
            await self.dbs[new].fetchone("ALTER SYSTEM SET synchronous_standby_names = ''")
            await self.dbs[new].fetchone("SELECT pg_reload_conf()")
        except DbError as exc:
            self.events.emit("promote_failed", db=new, reason=str(exc))
            return
        self.last_promotion = self.events.emit(
            "promoted", db=new, old_primary=old, consecutive_failures=self.failures
        )
        record = write_writer(self.state_dir, new, f"{old} failed {self.failures} health checks")
        self.events.emit("writer_repointed", writer=new, epoch=record["epoch"])
        self.failures = 0
        self.standby_failures = 0
        self.sync_relaxed = False
        if self.settings.fence_old_primary:
            self._fence(old)

    def _fence(self, db: str) -> None:
        # STONITH for a partitioned-but-alive old primary: a fast shutdown, so it can
        # never take writes again; it rejoins later as a standby via start_component
        data_dir = self.state.components[db].data_dir
        pid, _ = postmaster_info(Path(data_dir)) if data_dir else (None, None)
        if pid is not None and signal_pid(pid, signal.SIGINT):
            self.events.emit("fenced", db=db, pid=pid)

    async def _watch_standby(self, writer: str, standby: str) -> None:
        try:
            row = await self.dbs[writer].fetchone(
                "SELECT count(*) FROM pg_stat_replication WHERE application_name = %s "
                "AND state = 'streaming'",
                (STANDBY_APP,),
            )
        except DbError:
            return
        streaming = bool(row and row[0])
        self.standby_failures = 0 if streaming else self.standby_failures + 1
        try:
            # a dead standby would block every commit: drop to async until it is back
            if (
                self.standby_failures >= self.settings.failure_threshold * 3
                and not self.sync_relaxed
            ):
                await self.dbs[writer].fetchone("ALTER SYSTEM SET synchronous_standby_names = ''")
                await self.dbs[writer].fetchone("SELECT pg_reload_conf()")
                self.sync_relaxed = True
                self.events.emit("sync_relaxed", db=writer, reason=f"{standby} not streaming")
            elif streaming and self.sync_relaxed:
                await self.dbs[writer].fetchone(
                    f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_APP}'"
                )
                await self.dbs[writer].fetchone("SELECT pg_reload_conf()")
                self.sync_relaxed = False
                self.events.emit("sync_restored", db=writer)
        except DbError:
            return

    def status(self) -> dict[str, Any]:
        """Controller state."""
        return {
            "status": "ok",
            "enabled": self.enabled,
            "writer": read_writer(self.state_dir),
            "consecutive_failures": self.failures,
            "sync_relaxed": self.sync_relaxed,
            "last_promotion": self.last_promotion,
        }

    async def handle(self, req: Request) -> Response:
        """GET /health, GET /admin/status, POST /admin/enabled {"enabled": bool}."""
        if req.path in ("/health", "/admin/status"):
            return json_response(200, self.status())
        if req.path == "/admin/enabled" and req.method == "POST":
            try:
                enabled = req.json()["enabled"]
                if not isinstance(enabled, bool):
                    raise TypeError("enabled must be true or false")
            except (ValueError, KeyError, TypeError) as exc:
                return error(400, f'body must be {{"enabled": bool}} ({exc})')
            if enabled != self.enabled:
                self.enabled = enabled
                self.events.emit("failover_enabled" if enabled else "failover_disabled")
            return json_response(200, self.status())
        return error(404, "not found")


async def _body(state: SandboxState, name: str, events: EventLog, stop: asyncio.Event) -> None:
    ctl = FailoverController(state, events)
    server = await serve(ctl.handle, state.components[name].port)
    events.emit("started", enabled=ctl.enabled, writer=read_writer(Path(state.state_dir)))
    await periodic(stop, state.settings.health_period_s, ctl.tick)
    server.close()
    for db in ctl.dbs.values():
        await db.close()


def main() -> None:
    """Entry point: ``python -m gameday.sandbox.failover --state-dir DIR``."""
    run_component("failover", _body, "failover")


if __name__ == "__main__":
    main()
