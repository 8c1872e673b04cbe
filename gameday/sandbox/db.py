"""Async PostgreSQL access with hard timeouts that also hold across a blackholed link.

A query stuck on a silent network never returns by itself, and psycopg's cancel path
waits for the server too. So a watchdog shuts the socket down when the deadline passes:
the pending call then fails at once with a connection error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from typing import Any

import psycopg
from psycopg import sql as _sql

Query = str | _sql.Composed


class DbError(Exception):
    """The database could not be reached or the query failed."""


def _kill_socket(conn: psycopg.AsyncConnection[Any]) -> None:
    with contextlib.suppress(OSError, psycopg.Error):
        fd = os.dup(conn.pgconn.socket)
        sock = socket.socket(fileno=fd)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


class AsyncDb:
    """A small pool of autocommit connections to one DSN, every call bounded in time."""

    def __init__(self, dsn: str, size: int, timeout_s: float) -> None:
        self.dsn = dsn
        self.timeout_s = timeout_s
        self._sem = asyncio.Semaphore(size)
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._closed = False

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        try:
            return await asyncio.wait_for(
                psycopg.AsyncConnection.connect(self.dsn, autocommit=True, connect_timeout=2),
                self.timeout_s,
            )
        except (TimeoutError, psycopg.Error, OSError) as exc:
            raise DbError(f"connect failed: {type(exc).__name__}") from exc

    async def fetchone(self, query: Query, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        """Run one statement and return its first row; DbError on any failure or timeout."""
        deadline = time.monotonic() + self.timeout_s
        try:
            await asyncio.wait_for(self._sem.acquire(), self.timeout_s)
        except TimeoutError as exc:
            raise DbError("pool exhausted") from exc
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            conn = self._idle.pop() if self._idle else await self._connect()
            remaining = max(0.05, deadline - time.monotonic())
            loop = asyncio.get_running_loop()
            watchdog = loop.call_later(remaining, _kill_socket, conn)
            try:
                cur = await conn.execute(query, params)
                row = await cur.fetchone() if cur.description else None
            finally:
                watchdog.cancel()
        except DbError:
            raise
        except (psycopg.Error, OSError) as exc:
            if conn is not None:
                await self._discard(conn)
                conn = None
            raise DbError(f"{type(exc).__name__}: {str(exc).strip()[:200]}") from exc
        except BaseException:
            if conn is not None:
                await self._discard(conn)
                conn = None
            raise
        finally:
            if conn is not None and not self._closed and not conn.closed:
                self._idle.append(conn)
            self._sem.release()
        return row

    async def _discard(self, conn: psycopg.AsyncConnection[Any]) -> None:
        _kill_socket(conn)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), 0.5)

    async def close(self) -> None:
        """Close every idle connection."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._discard(conn)
