"""One PostgreSQL transaction on one pooled connection: what a service's unit of work binds its repositories to."""

from __future__ import annotations

from types import TracebackType
from typing import NoReturn, Self

import asyncpg
from asyncpg.transaction import Transaction


class PostgresTransaction:
    """`async with` it: acquires a connection and begins; commits on a normal exit, rolls back on an
    exception, and gives the connection back either way.

    A service's unit of work subclasses it: `bind` gives its repositories the connection, and
    `failure` may turn a database error (raised on entering, inside the block or on leaving) into
    the service's own exception.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: asyncpg.Connection | None = None
        self._tx: Transaction | None = None

    def bind(self, conn: asyncpg.Connection) -> None:
        """Bind the repositories to this transaction's connection (called once it has begun)."""

    def failure(self, exc: BaseException) -> BaseException | None:
        """What to raise in place of `exc`, or None to let it through as it is."""
        return None

    def _raise(self, exc: BaseException) -> NoReturn:
        replacement = self.failure(exc)
        if replacement is None:
            raise exc
        raise replacement from exc

    async def __aenter__(self) -> Self:
        try:
            conn: asyncpg.Connection = await self._pool.acquire()
        except Exception as exc:
            self._raise(exc)
        try:
            tx = conn.transaction()
            await tx.start()
        except BaseException as exc:
            await self._pool.release(conn)
            self._raise(exc)
        self._conn, self._tx = conn, tx
        self.bind(conn)
        return self

    async def restart(self) -> None:
        """Roll back and begin again on the same connection: what was done in this unit is undone."""
        if self._conn is None or self._tx is None:
            raise RuntimeError("transaction not entered")
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
            raise RuntimeError("transaction not entered")
        try:
            if exc is None:
                await tx.commit()
            else:
                await tx.rollback()
        except Exception as failure:
            self._raise(failure)
        finally:
            await self._pool.release(conn)
        if exc is not None and self.failure(exc) is not None:
            self._raise(exc)
