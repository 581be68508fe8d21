"""The PostgreSQL unit of work: one pooled connection, one transaction, every repository bound to it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import asyncpg
from asyncpg.transaction import Transaction
from vocation_shared.pseudonyms import Pseudonymizer

from vocation_events.adapters.archive_store import PostgresArchiveRows, PostgresErasures
from vocation_events.adapters.postgres import DB_UNAVAILABLE, PostgresClaimRepository
from vocation_events.ports import Unavailable

TRANSIENT = (*DB_UNAVAILABLE, asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
"""What a retry can cure: raised inside a unit of work, or by its begin or end, it becomes `Unavailable`."""


def _unavailable(exc: BaseException) -> Unavailable:
    if isinstance(exc, asyncpg.DeadlockDetectedError):
        return Unavailable("concurrent requests claimed the same events: retry")
    return Unavailable(f"PostgreSQL unavailable: {type(exc).__name__}")


class PostgresUnitOfWork:
    """`async with` it: acquires a connection and begins; commits on a normal exit, rolls back on an
    exception, and gives the connection back either way. Database failures come out as `Unavailable`."""

    claims: PostgresClaimRepository
    erasures: PostgresErasures
    archive: PostgresArchiveRows

    def __init__(self, pool: asyncpg.Pool, pseudonymizer: Pseudonymizer) -> None:
        self._pool = pool
        self._pseudonymizer = pseudonymizer
        self._conn: asyncpg.Connection | None = None
        self._tx: Transaction | None = None

    async def __aenter__(self) -> Self:
        try:
            conn: asyncpg.Connection = await self._pool.acquire()
        except DB_UNAVAILABLE as exc:
            raise Unavailable(f"PostgreSQL unreachable: {type(exc).__name__}") from exc
        try:
            tx = conn.transaction()
            await tx.start()
        except BaseException as exc:
            await self._pool.release(conn)
            if isinstance(exc, TRANSIENT):
                raise _unavailable(exc) from exc
            raise
        self._conn, self._tx = conn, tx
        self.claims = PostgresClaimRepository(conn, self._restart)
        self.erasures = PostgresErasures(conn, self._pseudonymizer)
        self.archive = PostgresArchiveRows(conn, self._pseudonymizer)
        return self

    async def _restart(self) -> None:
        """Roll back and begin again on the same connection (what was done in this unit is undone)."""
        assert self._conn is not None
        assert self._tx is not None
        await self._tx.rollback()
        self._tx = self._conn.transaction()
        await self._tx.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        if conn is None or tx is None:
            raise RuntimeError("unit of work not entered")
        try:
            if exc is None:
                await tx.commit()
            else:
                await tx.rollback()
        except TRANSIENT as failure:
            raise _unavailable(failure) from exc or failure
        finally:
            await self._pool.release(conn)
        if isinstance(exc, TRANSIENT):
            raise _unavailable(exc) from exc


class PostgresUnitsOfWork:
    """The `UnitsOfWork` port: a new `PostgresUnitOfWork` on the pool for each call."""

    def __init__(self, pool: asyncpg.Pool, pseudonymizer: Pseudonymizer) -> None:
        self._pool = pool
        self._pseudonymizer = pseudonymizer

    def __call__(self) -> PostgresUnitOfWork:
        """A unit of work, begun on entering it."""
        return PostgresUnitOfWork(self._pool, self._pseudonymizer)
