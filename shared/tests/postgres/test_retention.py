"""Retention against a real PostgreSQL: old rows go in batches, recent and excluded rows stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from vocation_shared.postgres import create_pool
from vocation_shared.postgres.retention import PROCESSED_EVENTS, Expiry, Retention, prune, pruning

pytestmark = pytest.mark.integration

NOW = datetime(2027, 3, 1, tzinfo=UTC)


async def _processed(pool: asyncpg.Pool, rows: list[tuple[str, datetime]]) -> None:
    await pool.executemany(
        "INSERT INTO processed_events (consumer, source, event_id, processed_at) VALUES ('c', 's', $1, $2)",
        rows,
    )


async def _ids(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch("SELECT event_id FROM processed_events ORDER BY event_id")
    return [r["event_id"] for r in rows]


async def test_processed_events_older_than_the_horizon_are_deleted_and_recent_ones_kept(
    fresh_database: str,
) -> None:
    async with create_pool(fresh_database) as pool:
        await _processed(
            pool,
            [
                ("old-1", NOW - timedelta(days=500)),
                ("old-2", NOW - timedelta(days=401)),
                ("recent", NOW - timedelta(days=399)),
                ("today", NOW),
            ],
        )
        retention = Retention(pool, [PROCESSED_EVENTS], timedelta(days=400), now=lambda: NOW)
        assert await retention.run_once() == {"processed_events": 2}
        assert await _ids(pool) == ["recent", "today"]
        assert await retention.run_once() == {"processed_events": 0}


async def test_many_old_rows_go_in_several_batches(fresh_database: str) -> None:
    async with create_pool(fresh_database) as pool:
        old = NOW - timedelta(days=800)
        await _processed(pool, [(f"e-{n:04d}", old) for n in range(2_500)] + [("kept", NOW)])
        assert await prune(pool, PROCESSED_EVENTS, NOW - timedelta(days=400), batch=1_000) == 2_500
        assert await _ids(pool) == ["kept"]


async def test_an_expiry_deletes_only_the_rows_its_condition_names(fresh_database: str) -> None:
    async with create_pool(fresh_database) as pool:
        await pool.execute("CREATE TABLE jobs (id int, state text, created_at timestamptz)")
        old = NOW - timedelta(days=900)
        await pool.executemany(
            "INSERT INTO jobs VALUES ($1, $2, $3)", [(1, "done", old), (2, "pending", old), (3, "done", NOW)]
        )
        done = Expiry("jobs", "created_at", "state = 'done'")
        assert await Retention(pool, [done], timedelta(days=400), now=lambda: NOW).run_once() == {"jobs": 1}
        assert [r["id"] for r in await pool.fetch("SELECT id FROM jobs ORDER BY id")] == [2, 3]


async def test_no_horizon_deletes_nothing(fresh_database: str) -> None:
    async with create_pool(fresh_database) as pool:
        await _processed(pool, [("ancient", NOW - timedelta(days=5000))])
        assert await Retention(pool, [PROCESSED_EVENTS], None, now=lambda: NOW).run_once() == {}
        assert await _ids(pool) == ["ancient"]


async def test_pruning_runs_in_the_background_while_the_service_runs(fresh_database: str) -> None:
    async with create_pool(fresh_database) as pool:
        await _processed(pool, [("ancient", datetime.now(UTC) - timedelta(days=5000))])
        async with pruning(Retention(pool, [PROCESSED_EVENTS], timedelta(days=400)), every_s=0.05):
            for _ in range(100):
                if not await _ids(pool):
                    break
                await asyncio.sleep(0.05)
        assert await _ids(pool) == []
