"""The PostgreSQL unit of work: one pooled connection, one transaction, the ledger bound to it."""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

import asyncpg

from vocation_matching.adapters.postgres.ledger import Caps, PostgresLedger


class PostgresUnitOfWork:
    """`async with` it: acquires a connection and begins; commits on a normal exit, rolls back on an
    exception (asyncpg's transaction block), and gives the connection back either way."""

    ledger: PostgresLedger

    def __init__(self, pool: asyncpg.Pool, caps: Caps) -> None:
        self._pool = pool
        self._caps = caps
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            conn = await stack.enter_async_context(self._pool.acquire())
            await stack.enter_async_context(conn.transaction())
            self.ledger = PostgresLedger(conn, self._caps)
            self._stack = stack.pop_all()  # entered: closed by __aexit__, not here
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.__aexit__(exc_type, exc, tb)


class PostgresUnitsOfWork:
    """The `UnitsOfWork` port: a new `PostgresUnitOfWork` on the pool for each call."""

    def __init__(self, pool: asyncpg.Pool, caps: Caps) -> None:
        self.pool = pool
        self.caps = caps

    def __call__(self) -> PostgresUnitOfWork:
        """A unit of work, begun on entering it."""
        return PostgresUnitOfWork(self.pool, self.caps)
