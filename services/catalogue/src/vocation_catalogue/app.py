"""The composition root: pool, broker, publisher, consumers and HTTP app, opened and closed together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from vocation_shared.contracts.topics import Topic
from vocation_shared.http import kafka_reachable, postgres_reachable
from vocation_shared.kafka import DeadLetterPublisher, EventConsumer, EventPublisher, make_broker
from vocation_shared.postgres import create_pool
from vocation_shared.postgres.outbox import OutboxRelay
from vocation_shared.postgres.retention import PROCESSED_EVENTS, Retention, pruning
from vocation_shared.reference import preload

from vocation_catalogue.adapters.background import Wake, repeating
from vocation_catalogue.adapters.http import create_http_app
from vocation_catalogue.adapters.kafka import group_for, register
from vocation_catalogue.adapters.metrics import PrometheusMetrics
from vocation_catalogue.adapters.pages import pages_router
from vocation_catalogue.adapters.postgres.applications import OUTBOX
from vocation_catalogue.adapters.postgres.erasures import pseudonymize_ledgers
from vocation_catalogue.adapters.postgres.observatory import PostgresObservatory
from vocation_catalogue.adapters.postgres.search import PostgresSearch
from vocation_catalogue.adapters.postgres.unit_of_work import PostgresUnitsOfWork
from vocation_catalogue.adapters.slot_feed import KafkaSlotFeed
from vocation_catalogue.handlers import Applications, Handlers
from vocation_catalogue.settings import CatalogueSettings

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True, slots=True)
class CatalogueService:
    """The running catalogue: its HTTP app and what it is built on."""

    settings: CatalogueSettings
    pool: asyncpg.Pool
    broker: KafkaBroker
    handlers: Handlers
    applications: Applications
    """The application state: the pages' `ApplicationDesk`, the clock's `close_unanswered`."""
    relay: OutboxRelay
    http: FastAPI


@asynccontextmanager
async def open_pool(settings: CatalogueSettings) -> AsyncIterator[asyncpg.Pool]:
    """The catalogue's database pool, migrations applied."""
    async with create_pool(
        settings.database_url,
        migrations=[("catalogue", MIGRATIONS)],
        max_size=settings.database_pool_size,
    ) as pool:
        yield pool


@asynccontextmanager
async def running_service(
    settings: CatalogueSettings, *, consume: bool = True
) -> AsyncIterator[CatalogueService]:
    """Open everything, start consuming (unless `consume` is False), close everything on exit."""
    preload(skills=True, search=True)
    async with open_pool(settings) as pool:
        broker = make_broker(settings.kafka_bootstrap, client_id=settings.service_name)
        consumer = EventConsumer(
            broker,
            DeadLetterPublisher(broker, settings.consumer_group),
            settings.retry_policy(),
        )
        await pseudonymize_ledgers(pool, settings.pseudonymizer())
        slot_feed = KafkaSlotFeed(
            settings.kafka_bootstrap,
            group_for(settings.consumer_group, Topic.IMMERSION_SLOTS),
            str(Topic.IMMERSION_SLOTS),
            client_id=settings.service_name,
        )
        publisher = EventPublisher(broker)
        relay = OutboxRelay(pool, OUTBOX, publisher)
        wake = Wake()
        handlers = Handlers(
            PostgresUnitsOfWork(pool),
            publisher,
            PrometheusMetrics(),
            consumer=settings.consumer_group,
            source=settings.event_source,
            timezone=settings.timezone,
            pseudonyms=settings.pseudonymizer(),
            slot_feed=slot_feed,
            nudge=wake,
        )
        applications = Applications(
            PostgresUnitsOfWork(pool),
            consumer=settings.consumer_group,
            source=settings.event_source,
            timezone=settings.timezone,
            pseudonyms=settings.pseudonymizer(),
            nudge=wake,
        )
        if consume:
            register(consumer, handlers, settings.consumer_group, applications)
        search = PostgresSearch(pool, timezone=settings.timezone)
        http = create_http_app(
            search,
            [kafka_reachable(broker), postgres_reachable(pool)],
            PostgresObservatory(pool, timezone=settings.timezone),
            observatory_min_people=settings.observatory_min_people,
            pages=pages_router(settings, applications, search),
        )
        retention = Retention(pool, [PROCESSED_EVENTS], settings.retention())
        await broker.start()
        try:
            async with (
                pruning(retention, settings.retention_every_s),
                repeating("applications.relay", relay.relay, settings.applications_relay_every_s, wake),
                repeating(
                    "applications.clock", applications.close_unanswered, settings.applications_clock_every_s
                ),
            ):
                yield CatalogueService(settings, pool, broker, handlers, applications, relay, http)
        finally:
            await broker.stop()
            await slot_feed.close()
