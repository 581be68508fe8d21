"""The PostgreSQL unit of work: one pooled connection, one transaction, every repository bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from vocation_catalogue.adapters.postgres.bookings import PostgresBookings
from vocation_catalogue.adapters.postgres.erasures import PostgresErasures
from vocation_catalogue.adapters.postgres.outcomes import PostgresOutcomes
from vocation_catalogue.adapters.postgres.processed import PostgresProcessedEvents
from vocation_catalogue.adapters.postgres.read_models import PostgresReadModels


class PostgresUnitOfWork:
    """The repositories, each running its statements on one transaction's connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.read_models = PostgresReadModels(conn)
        self.bookings = PostgresBookings(conn)
        self.outcomes = PostgresOutcomes(conn)
        self.erasures = PostgresErasures(conn)
        self.processed = PostgresProcessedEvents(conn)


class PostgresUnitsOfWork:
    """The `UnitsOfWork` port on a pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[PostgresUnitOfWork]:
        """A connection and a transaction: committed when the block ends normally, rolled back when
        it raises; the connection goes back to the pool either way."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield PostgresUnitOfWork(conn)
