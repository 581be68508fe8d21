"""`PostgresTransaction` against a real PostgreSQL: commit, rollback, restart, and failures translated."""

from __future__ import annotations

import asyncpg
import pytest
from vocation_shared.postgres import create_pool
from vocation_shared.postgres.transaction import PostgresTransaction

pytestmark = pytest.mark.integration


class Busy(Exception):
    """The service's own exception for a database failure."""


class Notes(PostgresTransaction):
    """A unit of work with one repository: its connection."""

    conn: asyncpg.Connection

    def bind(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    def failure(self, exc: BaseException) -> BaseException | None:
        return Busy(type(exc).__name__) if isinstance(exc, asyncpg.UniqueViolationError) else None


async def insert(pool: asyncpg.Pool, note: int, then_fail: bool = False) -> None:
    async with Notes(pool) as unit:
        await unit.conn.execute("INSERT INTO notes VALUES ($1)", note)
        if then_fail:
            raise ZeroDivisionError


async def test_a_transaction_commits_rolls_back_restarts_and_translates(fresh_database: str) -> None:
    async with create_pool(fresh_database) as pool:
        await pool.execute("CREATE TABLE notes (id int PRIMARY KEY)")
        await insert(pool, 1)
        with pytest.raises(ZeroDivisionError):
            await insert(pool, 2, then_fail=True)
        async with Notes(pool) as unit:
            await unit.conn.execute("INSERT INTO notes VALUES (3)")
            await unit.restart()  # undoes 3
            await unit.conn.execute("INSERT INTO notes VALUES (4)")
        with pytest.raises(Busy) as raised:
            await insert(pool, 1)
        assert isinstance(raised.value.__cause__, asyncpg.UniqueViolationError)
        assert [r[0] for r in await pool.fetch("SELECT id FROM notes ORDER BY id")] == [1, 4]
        assert pool.get_size() - pool.get_idle_size() == 0  # every connection given back
