"""The composition root: pool, units of work, Kafka producer and consumers, handlers and HTTP app, wired."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from vocation_shared.backoff import Backoff
from vocation_shared.http import ReadinessCheck, operations_router, postgres_reachable
from vocation_shared.kafka import DeadLetterPublisher, EventConsumer, make_broker
from vocation_shared.logs import get_logger
from vocation_shared.postgres import create_pool
from vocation_shared.postgres.retention import Retention, pruning

from vocation_events.adapters.archive import ConsumerDeadLetters, subscribe_archive
from vocation_events.adapters.archive_store import PostgresArchive, pseudonymize_erasures
from vocation_events.adapters.http import create_http_app
from vocation_events.adapters.kafka import KafkaSink, ProducerFactory
from vocation_events.adapters.loops import repeat
from vocation_events.adapters.metrics import PrometheusMetrics
from vocation_events.adapters.postgres import INGESTED_EVENTS, PostgresOwners, PostgresPartners
from vocation_events.adapters.rate_limits import PostgresRateLimits
from vocation_events.adapters.unit_of_work import PostgresUnitsOfWork
from vocation_events.adapters.webhooks import (
    FINISHED_DELIVERIES,
    AddressGuard,
    HttpWebhookClient,
    PostgresWebhooks,
    subscribe_fan_out,
)
from vocation_events.auth import Authenticator
from vocation_events.core.archive_sealing import ArchiveSeal
from vocation_events.core.ratelimit import RateDefaults
from vocation_events.handlers.archive import Archive
from vocation_events.handlers.erasure import Erase
from vocation_events.handlers.ingestion import Ingestion
from vocation_events.handlers.webhooks import Deliver, FanOut
from vocation_events.settings import EventsSettings

MIGRATIONS = Path(__file__).parent / "migrations"
BROKER_RETRY_S = 2.0

log = get_logger(__name__)


@dataclass
class EventsService:
    """The running service: its HTTP app and the parts tests and the CLI reach into."""

    http: FastAPI
    pool: asyncpg.Pool
    sink: KafkaSink
    broker: KafkaBroker | None
    metrics: PrometheusMetrics
    partners: PostgresPartners
    archive: PostgresArchive
    webhooks: PostgresWebhooks
    eraser: Erase
    seal: ArchiveSeal


async def _start_broker(broker: KafkaBroker) -> None:
    """Start the archive consumer, retrying while Kafka is unreachable (the HTTP side runs meanwhile)."""
    while True:
        try:
            await broker.start()
            log.info("archive.started")
            return
        except Exception as exc:
            log.warning("archive.kafka_unreachable", error=repr(exc))
            with contextlib.suppress(Exception):
                await broker.stop()
            await asyncio.sleep(BROKER_RETRY_S)


@contextlib.asynccontextmanager
async def running_service(settings: EventsSettings) -> AsyncIterator[EventsService]:
    """Everything started (the archive consumer in the background); stopped on exit."""
    async with create_pool(
        settings.database_url,
        migrations=[("events", MIGRATIONS)],
        max_size=settings.database_pool_size,
    ) as pool:
        metrics = PrometheusMetrics()
        sink = KafkaSink(
            ProducerFactory(
                settings.kafka_bootstrap,
                f"{settings.service_name}-gateway",
                settings.producer_max_batch_bytes,
                settings.producer_linger_ms,
            ),
            settings.publish_timeout_s,
        )
        pseudonymizer = settings.pseudonymizer()
        await pseudonymize_erasures(pool, pseudonymizer)  # before anything reads the erasure ledger
        partners = PostgresPartners(pool)
        archive = PostgresArchive(pool, pseudonymizer)
        cipher = settings.contact_cipher()
        seal = ArchiveSeal(cipher)
        if not cipher.enabled:
            log.warning("archive.personal_data_in_clear", hint="set VOCATION_CONTACTS_KEYS")
        units = PostgresUnitsOfWork(pool, pseudonymizer)
        webhooks = PostgresWebhooks(pool, cipher)
        eraser = Erase(
            units,
            deliveries=webhooks,
            erasures_per_pass=settings.eraser_erasures_per_pass,
            rows_per_pass=settings.eraser_rows_per_pass,
        )
        ingestion = Ingestion(units, sink, metrics)
        broker: KafkaBroker | None = None
        if settings.archive_enabled or settings.webhooks_enabled:
            broker = make_broker(
                settings.kafka_bootstrap,
                client_id=f"{settings.service_name}-archive",
                log_level=logging.DEBUG,  # one "Received/Processed" line per batch is noise at INFO
            )
        if settings.webhooks_enabled and broker is not None:
            subscribe_fan_out(broker, FanOut(webhooks, units=units), settings.webhooks_group)
        if settings.archive_enabled and broker is not None:
            retry = settings.retry_policy()
            consumer = EventConsumer(broker, DeadLetterPublisher(broker, settings.archive_group), retry)
            archiving = Archive(
                units,
                ConsumerDeadLetters(consumer, settings.archive_group),
                metrics,
                seal,
                delay=retry.delay,
                budget_s=retry.transient_budget_s,
            )
            subscribe_archive(broker, archiving, settings.archive_group)
        checks = [ReadinessCheck("kafka", sink.ping), postgres_reachable(pool)]
        api = create_http_app(
            ingestion=ingestion,
            authenticator=Authenticator(partners, settings.partner_cache_ttl_s),
            limiter=PostgresRateLimits(
                pool, RateDefaults(settings.rate_per_s, settings.rate_burst, settings.max_batch_events)
            ),
            metrics=metrics,
            settings=settings,
            owners=PostgresOwners(pool),
            routers=[operations_router(checks, registry=metrics.registry)],
        )
        client = HttpWebhookClient(
            timeout_s=settings.webhook_timeout_s, guard=AddressGuard(settings.allowed_networks())
        )
        deliver = Deliver(
            webhooks,
            client,
            timeout_s=settings.webhook_timeout_s,
            backoff=Backoff(
                initial_s=settings.webhook_retry_initial_s,
                max_s=settings.webhook_retry_max_s,
                max_attempts=settings.webhook_max_attempts,
            ),
        )
        stop = asyncio.Event()
        await sink.start()
        starting = asyncio.create_task(_start_broker(broker)) if broker is not None else None
        sending = (
            asyncio.create_task(
                repeat("webhooks", deliver.run_once, stop, poll_s=settings.webhook_poll_s), name="webhooks"
            )
            if settings.webhooks_enabled
            else None
        )
        # Erasures are recorded by the claims and applied to the archive here, off the ingestion
        # path, by the process that archives.
        erasing = (
            asyncio.create_task(
                repeat(
                    "archive.eraser",
                    eraser.run_once,
                    stop,
                    poll_s=settings.eraser_poll_s,
                    pause_s=settings.eraser_pause_s,
                ),
                name="archive-eraser",
            )
            if settings.archive_enabled
            else None
        )
        try:
            async with pruning(
                Retention(pool, [INGESTED_EVENTS, FINISHED_DELIVERIES], settings.retention()),
                settings.retention_every_s,
            ):
                yield EventsService(
                    api, pool, sink, broker, metrics, partners, archive, webhooks, eraser, seal
                )
        finally:
            stop.set()
            if sending is not None:
                await sending
            if erasing is not None:
                await erasing
            await client.aclose()
            if starting is not None:
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
            if broker is not None:
                await broker.stop()
            await sink.stop()
