"""The PostgreSQL unit of work: one pooled connection, one transaction, every repository bound to it."""

from __future__ import annotations

import asyncpg
from vocation_shared.postgres.transaction import PostgresTransaction

from vocation_catalogue.adapters.postgres.applications import (
    PostgresApplications,
    PostgresOutbox,
    PostgresPairMatches,
)
from vocation_catalogue.adapters.postgres.bookings import PostgresBookings
from vocation_catalogue.adapters.postgres.erasures import PostgresErasures
from vocation_catalogue.adapters.postgres.outcomes import PostgresOutcomes
from vocation_catalogue.adapters.postgres.processed import PostgresProcessedEvents
from vocation_catalogue.adapters.postgres.read_models import PostgresReadModels


class PostgresUnitOfWork(PostgresTransaction):
    """`async with` it: acquires a connection and begins; commits when the block ends normally, rolls
    back when it raises, and gives the connection back to the pool either way."""

    read_models: PostgresReadModels
    bookings: PostgresBookings
    outcomes: PostgresOutcomes
    erasures: PostgresErasures
    processed: PostgresProcessedEvents
    applications: PostgresApplications
    matches: PostgresPairMatches
    outbox: PostgresOutbox

    def bind(self, conn: asyncpg.Connection) -> None:
        """The repositories, each running its statements on this transaction's connection."""
        self.read_models = PostgresReadModels(conn)
        self.bookings = PostgresBookings(conn)
        self.outcomes = PostgresOutcomes(conn)
        self.erasures = PostgresErasures(conn)
        self.processed = PostgresProcessedEvents(conn)
        self.applications = PostgresApplications(conn)
        self.matches = PostgresPairMatches(conn)
        self.outbox = PostgresOutbox(conn)


class PostgresUnitsOfWork:
    """The `UnitsOfWork` port: a new `PostgresUnitOfWork` on the pool for each call."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    def __call__(self) -> PostgresUnitOfWork:
        """A unit of work, begun on entering it."""
        return PostgresUnitOfWork(self.pool)
