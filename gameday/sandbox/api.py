"""Payment API (api-a, api-b, api-canary): pay, balance, coupons, health.

Rate limited by priority (coupons are shed before payments), guarded by a circuit
breaker per database, writes to whichever database ``writer.json`` names.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from gameday.sandbox.breaker import BreakerState, CircuitBreaker
from gameday.sandbox.db import AsyncDb, DbError
from gameday.sandbox.events import EventLog
from gameday.sandbox.httpd import Request, Response, error, json_response, serve
from gameday.sandbox.ratelimit import Priority, PriorityLimiter
from gameday.sandbox.runtime import periodic, run_component
from gameday.sandbox.state import WRITER_FILE, SandboxState, current_writer
from gameday.sandbox.timing import format_server_timing
from gameday.sandbox.topology import DATABASES, INITIAL_WRITER, LEDGER_TABLE

VERSIONS = ("v1", "v2", "v2-faulty", "v2-slow")
ROUTE_PRIORITY = {"/pay": Priority.HIGH, "/balance": Priority.NORMAL, "/coupons": Priority.LOW}
COUPONS = [{"code": "FUEL5", "discount": "5%"}, {"code": "WASH2", "discount": "2 EUR"}]


class PaymentApi:
    """One payment API instance."""

    def __init__(self, state: SandboxState, name: str, events: EventLog) -> None:
        s = state.settings
        self.state_dir = Path(state.state_dir)
        self.name = name
        self.events = events
        self.settings = s
        comp = state.components[name]
        self.version = comp.version or "v1"
        self.local_db = "db-primary" if comp.site == "a" else "db-standby"
        self.limiter = PriorityLimiter(s.rate_limit_rps, s.rate_limit_burst, s.payment_reserve)
        self.dbs = {
            db: AsyncDb(state.dsn(db, via=name, app=name), s.db_pool_size, s.db_timeout_s)
            for db in DATABASES
        }
        self.breakers = {db: self._make_breaker(db) for db in DATABASES}
        self.writer = INITIAL_WRITER
        self._writer_mtime = -1.0
        self._shed: Counter[str] = Counter()
        self._refresh_writer()

    def _make_breaker(self, db: str) -> CircuitBreaker:
        def on_transition(old: BreakerState, new: BreakerState, reason: str) -> None:
            if new is BreakerState.OPEN:
                self.events.emit("breaker_open", db=db, reason=reason)
            elif new is BreakerState.CLOSED:
                self.events.emit("breaker_closed", db=db, reason=reason)

        s = self.settings
        return CircuitBreaker(
            s.breaker_failure_threshold, s.breaker_open_s, on_transition=on_transition
        )

    def _refresh_writer(self) -> None:
        # a stat per request is cheap and repoints writes within one request of the change
        try:
            mtime = (self.state_dir / WRITER_FILE).stat().st_mtime
        except FileNotFoundError:
            return
        if mtime == self._writer_mtime:
            return
        self._writer_mtime = mtime
        new = current_writer(self.state_dir)
        if new != self.writer and new in DATABASES:
            old, self.writer = self.writer, new
            self.events.emit("writer_changed", old=old, new=new)
            self.breakers[new].reset("writer repointed")

    async def _db(self, db: str, query: str, params: tuple[Any, ...], timing: list[float]) -> Any:
        breaker = self.breakers[db]
        if not breaker.allow():
            raise _CircuitOpen(db)
        t0 = time.perf_counter()
        try:
            row = await self.dbs[db].fetchone(query, params)
        except DbError:
            breaker.record_failure()
            raise
        finally:
            timing[0] += (time.perf_counter() - t0) * 1000.0
        breaker.record_success()
        return row

    async def handle(self, req: Request) -> Response:
        """Route a request; every response carries X-Served-By and Server-Timing."""
        t0 = time.perf_counter()
        db_ms = [0.0]
        resp = await self._dispatch(req, db_ms)
        resp.headers["X-Served-By"] = f"{self.name}/{self.version}"
        resp.headers["Server-Timing"] = format_server_timing(
            {"api": (time.perf_counter() - t0) * 1000.0, "db": db_ms[0]}, {"db": self.writer}
        )
        return resp

    async def _dispatch(self, req: Request, db_ms: list[float]) -> Response:
        path = req.path
        if path == "/health":
            return json_response(200, self.status())
        if path.startswith("/admin/"):
            return self._admin(req)
        priority = ROUTE_PRIORITY.get(path)
        if priority is None:
            return error(404, "not found")
        if (path == "/pay") != (req.method == "POST"):
            return error(405, "POST /pay, GET /balance, GET /coupons")
        if not self.limiter.try_acquire(priority):
            self._shed[path] += 1
            retry = self.limiter.retry_after(priority)
            return error(429, "rate limited", {"Retry-After": str(retry)})
        self._refresh_writer()
        if self.version == "v2-slow":
            await asyncio.sleep(self.settings.slow_ms / 1000.0)
        try:
            if path == "/pay":
                return await self._pay(req, db_ms)
            if path == "/balance":
                return await self._balance(req, db_ms)
            return json_response(200, {"coupons": COUPONS})
        except _CircuitOpen as exc:
            return error(503, f"circuit open to {exc.db}", {"X-Circuit": "open"})
        except DbError as exc:
            return error(503, f"database unavailable: {exc}")

    async def _pay(self, req: Request, db_ms: list[float]) -> Response:
        try:
            body = req.json()
            account = str(body["account"])
            amount = Decimal(str(body["amount"]))
        except (ValueError, KeyError, TypeError, InvalidOperation):
            return error(400, 'body must be {"account": str, "amount": number}')
        if not account or len(account) > 100 or not amount.is_finite() or abs(amount) >= 10**10:
            return error(400, "invalid account or amount")
        if self.version == "v2-faulty" and random.random() < self.settings.faulty_share:
            return error(500, "payment failed (faulty release)")
        writer = self.writer
        row = await self._db(
            writer,
            f"INSERT INTO {LEDGER_TABLE} (account, amount, api) VALUES (%s, %s, %s) RETURNING id",
            (account, amount, self.name),
            db_ms,
        )
        # autocommit: the INSERT has committed (and, in sync mode, reached the standby)
        return json_response(
            200, {"id": row[0], "account": account, "amount": str(amount), "db": writer}
        )

    async def _balance(self, req: Request, db_ms: list[float]) -> Response:
        account = req.query.get("account")
        if not account:
            return error(400, "query parameter account is required")
        query = f"SELECT coalesce(sum(amount), 0), count(*) FROM {LEDGER_TABLE} WHERE account = %s"
        # read from the site's own database; fall back to the writer when it is away
        sources = [self.local_db] if self.local_db == self.writer else [self.local_db, self.writer]
        last: Exception | None = None
        for db in sources:
            try:
                row = await self._db(db, query, (account,), db_ms)
                return json_response(
                    200, {"account": account, "balance": str(row[0]), "payments": row[1], "db": db}
                )
            except (DbError, _CircuitOpen) as exc:
                last = exc
        assert last is not None
        raise last

    def status(self) -> dict[str, Any]:
        """Health and state of this instance."""
        return {
            "status": "ok",
            "component": self.name,
            "version": self.version,
            "writer": self.writer,
            "breakers": {db: b.state.value for db, b in self.breakers.items()},
            "tokens": round(self.limiter.bucket.tokens, 1),
        }

    def _admin(self, req: Request) -> Response:
        if req.path == "/admin/version" and req.method == "POST":
            try:
                version = str(req.json()["version"])
            except (ValueError, KeyError, TypeError):
                return error(400, 'body must be {"version": ...}')
            if version not in VERSIONS:
                return error(400, f"unknown version {version!r}; known: {', '.join(VERSIONS)}")
            old, self.version = self.version, version
            self.events.emit("version_changed", old=old, new=version)
            return json_response(200, self.status())
        if req.path == "/admin/status":
            return json_response(200, self.status())
        return error(404, "not found")

    async def flush_shed(self) -> None:
        """Emit one aggregated ``shed`` event for the last second's 429s."""
        if self._shed:
            counts, self._shed = dict(self._shed), Counter()
            self.events.emit("shed", counts=counts, total=sum(counts.values()))


class _CircuitOpen(Exception):
    def __init__(self, db: str) -> None:
        super().__init__(db)
        self.db = db


async def _body(state: SandboxState, name: str, events: EventLog, stop: asyncio.Event) -> None:
    api = PaymentApi(state, name, events)
    server = await serve(api.handle, state.components[name].port)
    events.emit("started", version=api.version, writer=api.writer, port=state.components[name].port)
    await periodic(stop, 1.0, api.flush_shed)
    server.close()
    for db in api.dbs.values():
        await db.close()


def main() -> None:
    """Entry point: ``python -m gameday.sandbox.api --state-dir DIR --name api-a``."""
    run_component("api", _body, "api-a")


if __name__ == "__main__":
    main()
