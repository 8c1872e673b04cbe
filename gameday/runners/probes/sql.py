"""SQL probe: run a query, compare the first column of the first row (as text) with `expect`."""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import psycopg

from ...scenarios.model import SqlProbe
from .base import Background, Observation, Prober, describe_error, short, timeout_detail

_TRUE = {"t", "true", "on", "yes", "y", "1"}
_FALSE = {"f", "false", "off", "no", "n", "0"}


def as_text(value: object) -> str:
    """A value as PostgreSQL would print it, for the cases `expect` cares about."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches(value: object, expect: str) -> bool:
    """Whether a result equals `expect`; booleans accept t/true/on/yes/1 spellings."""
    want = expect.strip()
    if isinstance(value, bool):
        return want.lower() in (_TRUE if value else _FALSE)
    return as_text(value) == want


class Connections:
    """Idle connections kept between samples; a connection that failed is never reused."""

    def __init__(self, dsn: str, timeout: float, *, autocommit: bool, keep: int = 2) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self.autocommit = autocommit
        self.keep = keep
        self.idle: list[psycopg.AsyncConnection[Any]] = []

    async def get(self) -> psycopg.AsyncConnection[Any]:
        """An idle healthy connection, or a new one (multi-host DSNs are tried in order)."""
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed and not conn.broken:
                return conn
        return await psycopg.AsyncConnection.connect(
            self.dsn,
            autocommit=self.autocommit,
            # libpq counts connect_timeout per host and in whole seconds (2 at least)
            connect_timeout=max(2, math.ceil(self.timeout)),
        )

    def put(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if len(self.idle) < self.keep and not conn.closed and not conn.broken:
            self.idle.append(conn)
        else:
            discard(conn)

    def close(self) -> None:
        for conn in self.idle:
            discard(conn)
        self.idle.clear()


def discard(conn: psycopg.AsyncConnection[Any]) -> None:
    """Drop a connection without waiting on the network (it may be blackholed)."""
    with contextlib.suppress(Exception):
        conn.pgconn.finish()


class SqlProber(Prober[SqlProbe]):
    """Passes when the query runs within the timeout and (if given) returns `expect`."""

    def __init__(self, model: SqlProbe) -> None:
        super().__init__(model)
        self._pool = Connections(model.dsn, model.timeout, autocommit=True)
        self._background = Background()

    async def _query(self) -> tuple[bool, object]:
        """Whether a row came back, and its first column."""
        conn = await self._pool.get()
        try:
            cur = await conn.execute(self.model.query)
            row = await cur.fetchone() if cur.description else None
        except BaseException:
            discard(conn)
            raise
        self._pool.put(conn)
        return row is not None, (row[0] if row else None)

    async def sample(self) -> Observation:
        """Run the query once on a pooled (or fresh) connection."""
        start = time.monotonic()
        try:
            finished, result = await self._background.run(self._query(), self.timeout)
        except Exception as exc:
            return Observation(False, detail=describe_error(exc))
        latency = time.monotonic() - start
        if not finished or result is None:
            return Observation(False, detail=timeout_detail(self.timeout))
        has_row, value = result
        shown = as_text(value) if has_row else None
        if self.model.expect is None:
            return Observation(True, latency=latency, value=short(shown, 200) if shown else None)
        if not has_row:
            return Observation(
                False, latency=latency, detail=f"expected {self.model.expect!r}, got no rows"
            )
        if matches(value, self.model.expect):
            return Observation(True, latency=latency, value=short(as_text(value), 200))
        got = short(as_text(value), 60)
        return Observation(
            False, latency=latency, value=got, detail=f"expected {self.model.expect!r}, got {got!r}"
        )

    async def close(self) -> None:
        """Drop idle connections; give abandoned queries a moment to wind down."""
        self._pool.close()
        await self._background.drain(1.0)
