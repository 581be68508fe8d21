"""The PostgreSQL unit of work: one pooled connection, one transaction, the ledger and the learning bound to it."""

from __future__ import annotations

import asyncpg
from vocation_shared.postgres.transaction import PostgresTransaction

from vocation_matching.adapters.postgres.learning import PostgresLearning
from vocation_matching.adapters.postgres.ledger import Caps, PostgresLedger


class PostgresUnitOfWork(PostgresTransaction):
    """`async with` it: acquires a connection and begins; commits on a normal exit, rolls back on an
    exception, and gives the connection back either way."""

    ledger: PostgresLedger
    learning: PostgresLearning

    def __init__(self, pool: asyncpg.Pool, caps: Caps) -> None:
        super().__init__(pool)
        self._caps = caps

    def bind(self, conn: asyncpg.Connection) -> None:
        """The ledger and what was learned, on this transaction's connection."""
        self.ledger = PostgresLedger(conn, self._caps)
        self.learning = PostgresLearning(conn)


class PostgresUnitsOfWork:
    """The `UnitsOfWork` port: a new `PostgresUnitOfWork` on the pool for each call."""

    def __init__(self, pool: asyncpg.Pool, caps: Caps) -> None:
        self.pool = pool
        self.caps = caps

    def __call__(self) -> PostgresUnitOfWork:
        """A unit of work, begun on entering it."""
        return PostgresUnitOfWork(self.pool, self.caps)
