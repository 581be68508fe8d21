"""The PostgreSQL unit of work: one pooled connection, one transaction, every repository bound to it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from vocation_notifications.adapters.contact_cipher import ContactCipher
from vocation_notifications.adapters.postgres.contacts import PostgresContacts
from vocation_notifications.adapters.postgres.digests import PostgresDigests
from vocation_notifications.adapters.postgres.event_outbox import PostgresEventOutbox
from vocation_notifications.adapters.postgres.outbox import PostgresOutbox
from vocation_notifications.adapters.postgres.processed import PostgresProcessedEvents
from vocation_notifications.adapters.postgres.snapshots import PostgresSnapshots


class PostgresUnitOfWork:
    """`async with` it: acquires a connection and begins; commits on a normal exit, rolls back on an
    exception, and gives the connection back either way."""

    contacts: PostgresContacts
    snapshots: PostgresSnapshots
    outbox: PostgresOutbox
    digests: PostgresDigests
    events: PostgresEventOutbox
    processed: PostgresProcessedEvents

    def __init__(self, pool: asyncpg.Pool, cipher: ContactCipher) -> None:
        self._pool = pool
        self._cipher = cipher
        self._conn: PoolConnectionProxy | None = None
        self._tx: Transaction | None = None

    async def __aenter__(self) -> Self:
        conn = await self._pool.acquire()
        try:
            tx = conn.transaction()
            await tx.start()
        except BaseException:
            await self._pool.release(conn)
            raise
        self._conn, self._tx = conn, tx
        bound = conn  # the repositories run their statements on this transaction's connection
        self.contacts = PostgresContacts(bound, self._cipher)
        self.snapshots = PostgresSnapshots(bound)
        self.outbox = PostgresOutbox(bound, self._cipher)
        self.digests = PostgresDigests(bound)
        self.events = PostgresEventOutbox(bound)
        self.processed = PostgresProcessedEvents(bound)
        return self

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
            if exc_type is None:
                await tx.commit()
            else:
                await tx.rollback()
        finally:
            await self._pool.release(conn)


class PostgresUnitsOfWork:
    """The `UnitsOfWork` port: a new `PostgresUnitOfWork` on the pool for each call."""

    def __init__(self, pool: asyncpg.Pool, cipher: ContactCipher | None = None) -> None:
        self.pool = pool
        self.cipher = cipher or ContactCipher()

    def __call__(self) -> PostgresUnitOfWork:
        """A unit of work, begun on entering it."""
        return PostgresUnitOfWork(self.pool, self.cipher)
