"""The PostgreSQL unit of work: one pooled connection, one transaction, every repository bound to it."""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

import asyncpg

from vocation_catalogue.adapters.postgres.bookings import PostgresBookings
from vocation_catalogue.adapters.postgres.erasures import PostgresErasures
from vocation_catalogue.adapters.postgres.outcomes import PostgresOutcomes
from vocation_catalogue.adapters.postgres.processed import PostgresProcessedEvents
from vocation_catalogue.adapters.postgres.read_models import PostgresReadModels


class PostgresUnitOfWork:
    """`async with` it: acquires a connection and begins; commits on a normal exit, rolls back on an
    exception, and gives the connection back either way."""

    read_models: PostgresReadModels
    bookings: PostgresBookings
    outcomes: PostgresOutcomes
    erasures: PostgresErasures
    processed: PostgresProcessedEvents

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            conn = await stack.enter_async_context(self._pool.acquire())
            await stack.enter_async_context(conn.transaction())
            self._stack = stack.pop_all()
        self.read_models = PostgresReadModels(conn)
        self.bookings = PostgresBookings(conn)
        self.outcomes = PostgresOutcomes(conn)
        self.erasures = PostgresErasures(conn)
        self.processed = PostgresProcessedEvents(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Commit (normal exit) or roll back (an exception), then give the connection back."""
        await self._stack.__aexit__(exc_type, exc, tb)


class PostgresUnitsOfWork:
    """The `UnitsOfWork` port: a new `PostgresUnitOfWork` on the pool for each call."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    def __call__(self) -> PostgresUnitOfWork:
        """A unit of work, begun on entering it."""
        return PostgresUnitOfWork(self.pool)
