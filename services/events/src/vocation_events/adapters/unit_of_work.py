"""The PostgreSQL unit of work: one pooled connection, one transaction, every repository bound to it."""

from __future__ import annotations

import asyncpg
from vocation_shared.postgres.transaction import PostgresTransaction
from vocation_shared.pseudonyms import Pseudonymizer

from vocation_events.adapters.archive_store import PostgresArchiveRows, PostgresErasures
from vocation_events.adapters.postgres import DB_UNAVAILABLE, PostgresClaimRepository
from vocation_events.ports import Unavailable

TRANSIENT = (*DB_UNAVAILABLE, asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
"""What a retry can cure: raised inside a unit of work, or by its begin or end, it becomes `Unavailable`."""


class PostgresUnitOfWork(PostgresTransaction):
    """The `UnitOfWork` port: commits on a normal exit, rolls back on an exception; database
    failures come out as `Unavailable` (the gateway answers 503, consumers retry)."""

    claims: PostgresClaimRepository
    erasures: PostgresErasures
    archive: PostgresArchiveRows

    def __init__(self, pool: asyncpg.Pool, pseudonymizer: Pseudonymizer) -> None:
        super().__init__(pool)
        self._pseudonymizer = pseudonymizer

    def bind(self, conn: asyncpg.Connection) -> None:
        """The repositories, on this transaction's connection."""
        self.claims = PostgresClaimRepository(conn, self.restart)
        self.erasures = PostgresErasures(conn, self._pseudonymizer)
        self.archive = PostgresArchiveRows(conn, self._pseudonymizer)

    def failure(self, exc: BaseException) -> BaseException | None:
        """`Unavailable` for what a retry can cure."""
        if isinstance(exc, asyncpg.DeadlockDetectedError):
            return Unavailable("concurrent requests claimed the same events: retry")
        if isinstance(exc, TRANSIENT):
            return Unavailable(f"PostgreSQL unavailable: {type(exc).__name__}")
        return None


class PostgresUnitsOfWork:
    """The `UnitsOfWork` port: a new `PostgresUnitOfWork` on the pool for each call."""

    def __init__(self, pool: asyncpg.Pool, pseudonymizer: Pseudonymizer) -> None:
        self._pool = pool
        self._pseudonymizer = pseudonymizer

    def __call__(self) -> PostgresUnitOfWork:
        """A unit of work, begun on entering it."""
        return PostgresUnitOfWork(self._pool, self._pseudonymizer)
