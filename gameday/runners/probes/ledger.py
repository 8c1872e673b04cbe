"""Ledger probe (sql-write): numbered writes, each its own transaction, to count lost writes (RPO)."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

import psycopg
from psycopg import errors, sql

from ...scenarios.model import LedgerProbe
from ..receiver import AlertReceiver
from .base import Background, Observation, Prober, describe_error, timeout_detail
from .sql import Connections, discard


@dataclass(frozen=True)
class LedgerResult:
    """Read-back of one run's ledger: which acknowledged writes survived.

    `error` is set when the read-back never succeeded; then `missing` is unknown (empty).
    """

    run_id: str
    acked: list[tuple[int, float]]  # (seq, monotonic send time) of every acknowledged write
    missing: list[tuple[int, float]]  # acknowledged but absent after the drill
    unacked_present: int  # writes whose commit was not acknowledged yet are stored
    attempted: int
    present: int = 0
    error: str | None = None
    attempts: int = 0
    # writes whose outcome is unknown (timed out, connection lost during COMMIT): neither
    # acknowledged nor refused, so never counted as lost; how many of them were stored
    in_doubt: list[tuple[int, float]] = field(default_factory=list)
    in_doubt_present: int = 0

    @property
    def lost_span(self) -> float:
        """Seconds between the first and last lost write's send time (0 for none or one)."""
        if len(self.missing) < 2:
            return 0.0
        return self.missing[-1][1] - self.missing[0][1]


@dataclass
class _State:
    next_seq: int = 1
    attempted: dict[int, float] = field(default_factory=dict)
    acked: dict[int, float] = field(default_factory=dict)
    committing: set[int] = field(default_factory=set)  # COMMIT sent, answer not yet back
    in_doubt: dict[int, float] = field(default_factory=dict)
    in_flight: int = 0
    stopped: bool = False


class LedgerProber(Prober[LedgerProbe]):
    """Each sample INSERTs the next sequence number and COMMITs; ok only when the commit returned."""

    def __init__(self, model: LedgerProbe, run_id: str) -> None:
        super().__init__(model)
        self.run_id = run_id
        self._pool = Connections(model.dsn, model.timeout, autocommit=False)
        self._background = Background()
        self._state = _State()
        self._table_ready = False
        self._table = sql.Identifier(model.table)

    @classmethod
    def build(cls, model: LedgerProbe, *, run_id: str, receiver: AlertReceiver | None) -> Self:
        """Writes are tagged with the drill's run id."""
        return cls(model, run_id)

    @property
    def acked(self) -> list[tuple[int, float]]:
        """Acknowledged writes so far, by sequence number."""
        return sorted(self._state.acked.items())

    def _create_sql(self) -> sql.Composed:
        return sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (run_id text NOT NULL, seq bigint NOT NULL, "
            "t_wall timestamptz NOT NULL, PRIMARY KEY (run_id, seq))"
        ).format(self._table)

    async def _ensure_table(self, conn: psycopg.AsyncConnection[Any]) -> None:
        try:
            await conn.execute(self._create_sql())
            await conn.commit()
        except (errors.UniqueViolation, errors.DuplicateTable):
            # two writers racing on CREATE TABLE IF NOT EXISTS: the other one won
            await conn.rollback()
        self._table_ready = True

    async def _write(self, seq: int) -> None:
        conn = await self._pool.get()
        try:
            if not self._table_ready:
                await self._ensure_table(conn)
            await conn.execute(
                sql.SQL("INSERT INTO {} (run_id, seq, t_wall) VALUES (%s, %s, %s)").format(
                    self._table
                ),
                (self.run_id, seq, datetime.now(UTC)),
            )
            self._state.committing.add(seq)
            await conn.commit()
        except BaseException:
            discard(conn)
            raise
        self._state.committing.discard(seq)
        self._pool.put(conn)

    async def sample(self) -> Observation:
        """Write the next sequence number; value = seq, ok only on an acknowledged COMMIT."""
        state = self._state
        if state.stopped:
            raise RuntimeError("the ledger stopped writing for its read-back")
        seq = state.next_seq
        state.next_seq += 1
        start = time.monotonic()
        state.attempted[seq] = start
        state.in_flight += 1
        try:
            finished, _ = await self._background.run(self._write(seq), self.timeout)
        except Exception as exc:
            if seq in state.committing:  # the COMMIT went out; whether it landed is unknown
                state.in_doubt[seq] = start
            return Observation(False, value=seq, detail=describe_error(exc))
        finally:
            state.in_flight -= 1
            state.committing.discard(seq)
        if not finished:
            state.in_doubt[seq] = start
            return Observation(False, value=seq, detail=timeout_detail(self.timeout))
        state.acked[seq] = start
        return Observation(True, latency=time.monotonic() - start, value=seq)

    async def stop_writing(self, pause: float = 0.05) -> None:
        """Send no more writes and wait (at most one timeout) for those in flight to end.

        The read-back must compare a closed set: a write acknowledged while it runs would
        be counted as lost.
        """
        self._state.stopped = True
        deadline = time.monotonic() + self.timeout + 1.0
        while self._state.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(pause)

    async def _read_back(self) -> set[int]:
        dsn = self.model.verify_dsn or self.model.dsn
        async with await psycopg.AsyncConnection.connect(
            dsn, autocommit=True, connect_timeout=max(2, math.ceil(self.timeout))
        ) as conn:
            cur = await conn.execute(
                sql.SQL("SELECT seq FROM {} WHERE run_id = %s").format(self._table),
                (self.run_id,),
            )
            return {int(row[0]) for row in await cur.fetchall()}

    async def verify(self, within: float = 30.0, pause: float = 0.5) -> LedgerResult:
        """Stop writing, then read back this run's writes, retrying for up to `within` seconds.

        Only writes acknowledged before the stop are compared with what is stored.
        """
        await self.stop_writing()
        acked = self.acked
        in_doubt = sorted(self._state.in_doubt.items())
        unacked = set(self._state.attempted) - set(self._state.acked)
        deadline = time.monotonic() + within
        attempts = 0
        last = "not attempted"
        present: set[int] | None = None
        while True:
            attempts += 1
            remaining = deadline - time.monotonic()
            try:
                finished, found = await self._background.run(
                    self._read_back(), max(0.1, min(remaining, max(self.timeout, 5.0)))
                )
            except errors.UndefinedTable:
                finished, found = True, set()  # no write ever committed anywhere
            except Exception as exc:
                finished, found, last = False, None, describe_error(exc)
            else:
                if not finished:
                    last = "read-back timed out"
            if finished and found is not None:
                present = found
                break
            if time.monotonic() + pause >= deadline:
                break
            await asyncio.sleep(pause)
        if present is None:
            return LedgerResult(
                self.run_id,
                acked,
                [],
                0,
                len(self._state.attempted),
                error=last,
                attempts=attempts,
                in_doubt=in_doubt,
            )
        return LedgerResult(
            run_id=self.run_id,
            acked=acked,
            missing=[(s, t) for s, t in acked if s not in present],
            unacked_present=len(unacked & present),
            attempted=len(self._state.attempted),
            present=len(present),
            attempts=attempts,
            in_doubt=in_doubt,
            in_doubt_present=sum(1 for s, _ in in_doubt if s in present),
        )

    async def close(self) -> None:
        """Drop idle connections; give abandoned writes a moment to wind down."""
        self._pool.close()
        await self._background.drain(1.0)
