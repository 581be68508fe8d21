"""The PostgreSQL unit of work: one pooled connection, one transaction, every repository bound to it."""

from __future__ import annotations

import asyncpg
from vocation_shared.postgres.transaction import PostgresTransaction

from vocation_notifications.adapters.contact_cipher import ContactCipher
from vocation_notifications.adapters.postgres.contacts import PostgresContacts
from vocation_notifications.adapters.postgres.digests import PostgresDigests
from vocation_notifications.adapters.postgres.event_outbox import PostgresEventOutbox
from vocation_notifications.adapters.postgres.outbox import PostgresOutbox
from vocation_notifications.adapters.postgres.processed import PostgresProcessedEvents
from vocation_notifications.adapters.postgres.snapshots import PostgresSnapshots


class PostgresUnitOfWork(PostgresTransaction):
    """`async with` it: acquires a connection and begins; commits on a normal exit, rolls back on an
    exception, and gives the connection back either way."""

    contacts: PostgresContacts
    snapshots: PostgresSnapshots
    outbox: PostgresOutbox
    digests: PostgresDigests
    events: PostgresEventOutbox
    processed: PostgresProcessedEvents

    def __init__(self, pool: asyncpg.Pool, cipher: ContactCipher) -> None:
        super().__init__(pool)
        self._cipher = cipher

    def bind(self, conn: asyncpg.Connection) -> None:
        """The repositories, running their statements on this transaction's connection."""
        self.contacts = PostgresContacts(conn, self._cipher)
        self.snapshots = PostgresSnapshots(conn)
        self.outbox = PostgresOutbox(conn, self._cipher)
        self.digests = PostgresDigests(conn)
        self.events = PostgresEventOutbox(conn)
        self.processed = PostgresProcessedEvents(conn)


class PostgresUnitsOfWork:
    """The `UnitsOfWork` port: a new `PostgresUnitOfWork` on the pool for each call."""

    def __init__(self, pool: asyncpg.Pool, cipher: ContactCipher | None = None) -> None:
        self.pool = pool
        self.cipher = cipher or ContactCipher()

    def __call__(self) -> PostgresUnitOfWork:
        """A unit of work, begun on entering it."""
        return PostgresUnitOfWork(self.pool, self.cipher)
