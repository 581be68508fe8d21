"""The integration tests' handlers: the application layer on PostgreSQL, a fixed clock, a fake sink."""

from __future__ import annotations

import asyncpg

from vocation_catalogue.adapters.metrics import PrometheusMetrics
from vocation_catalogue.adapters.postgres.unit_of_work import PostgresUnitsOfWork
from vocation_catalogue.handlers import Clock, Handlers
from vocation_catalogue.ports import EventSink
from vocation_catalogue.testing.builders import fixed_clock

SOURCE = "urn:vocation:catalogue"


def postgres_handlers(pool: asyncpg.Pool, sink: EventSink, *, clock: Clock | None = None) -> Handlers:
    """The catalogue's handlers on `pool` (consumer `catalogue`), publishing to `sink`."""
    return Handlers(
        PostgresUnitsOfWork(pool),
        sink,
        PrometheusMetrics(),
        consumer="catalogue",
        source=SOURCE,
        clock=clock or fixed_clock(),
    )
