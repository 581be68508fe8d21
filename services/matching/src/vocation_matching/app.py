"""The composition root: state reader, handlers, ledger, match events, HTTP operations endpoints, wired together."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from vocation_shared.http import (
    ReadinessCheck,
    create_app,
    kafka_reachable,
    operations_router,
    postgres_reachable,
)
from vocation_shared.kafka import DeadLetterPublisher, make_broker
from vocation_shared.logs import get_logger
from vocation_shared.postgres import create_pool
from vocation_shared.postgres.retention import Retention, pruning
from vocation_shared.reference import preload
from vocation_shared.runtime import freeze_long_lived

from vocation_matching.adapters import snapshot
from vocation_matching.adapters.kafka import BarrierConsumer, subscribe_handlers
from vocation_matching.adapters.match_events import KafkaMatchEvents
from vocation_matching.adapters.metrics import PrometheusMetrics
from vocation_matching.adapters.postgres.ledger import EMITTED_MATCHES, Caps
from vocation_matching.adapters.postgres.unit_of_work import PostgresUnitsOfWork
from vocation_matching.adapters.publishing import KafkaBatchPublisher
from vocation_matching.adapters.state_reader import StateReader
from vocation_matching.core.state import MatchingState
from vocation_matching.handlers import Handlers
from vocation_matching.ports import Clock
from vocation_matching.settings import MatchingSettings

MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LocalClock:
    """Today in the platform's time zone."""

    timezone: str = "Europe/Paris"

    def today(self) -> date:
        """The current date in the time zone."""
        return datetime.now(ZoneInfo(self.timezone)).date()


@dataclass
class MatchingService:
    """A running matching service: what tests and `__main__` need to reach."""

    settings: MatchingSettings
    state: MatchingState
    reader: StateReader
    broker: KafkaBroker
    pool: asyncpg.Pool
    metrics: PrometheusMetrics
    http: FastAPI
    reacting: asyncio.Event

    async def wait_ready(self) -> None:
        """Wait until the state is rebuilt and the reactions started."""
        await self.reacting.wait()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("matching.start_failed", error=repr(task.exception()))


@asynccontextmanager
async def running_service(
    settings: MatchingSettings, clock: Clock | None = None
) -> AsyncIterator[MatchingService]:
    """Start the service: rebuild the state in the background, then join the group; stop on exit.

    With a snapshot folder, it is made private (0700) first, or the start fails naming it.
    """
    if settings.snapshot_dir is not None:
        snapshot.private_folder(settings.snapshot_dir)
    preload()
    state = MatchingState.empty(settings.grid_cell_scale)
    metrics = PrometheusMetrics(state)
    instance = uuid.uuid4().hex[:8]
    async with create_pool(
        settings.database_url, migrations=[("matching", MIGRATIONS)], max_size=settings.database_pool_size
    ) as pool:
        broker = make_broker(settings.kafka_bootstrap, client_id=f"{settings.service_name}-{instance}")
        publisher = KafkaBatchPublisher(
            settings.kafka_bootstrap,
            client_id=f"{settings.service_name}-matches-{instance}",
            max_batch_size=settings.producer_batch_bytes,
        )
        units = PostgresUnitsOfWork(
            pool, Caps(settings.daily_cap_per_offer, settings.daily_cap_per_candidate)
        )
        reader = StateReader(
            settings.kafka_bootstrap,
            state,
            metrics,
            client_id=f"{settings.service_name}-state-{instance}",
            snapshot_dir=settings.snapshot_dir,
            cell_scale=settings.grid_cell_scale,
        )
        handlers = Handlers(
            state,
            units,
            KafkaMatchEvents(publisher, settings.event_source),
            settings,
            clock or LocalClock(settings.timezone),
            metrics,
        )

        async def barrier() -> None:
            # The state topics up to their end, then what any instance learned from `applications`.
            await reader.caught_up()
            await handlers.refresh_learning()

        consumer = BarrierConsumer(
            broker,
            DeadLetterPublisher(broker, settings.consumer_group),
            settings.retry_policy(),
            barrier=barrier,
        )
        subscribe_handlers(consumer, handlers, settings.consumer_group)
        reacting = asyncio.Event()

        async def indexes_ready() -> bool:
            return reacting.is_set()

        app = create_app(
            title="Vocation matching",
            distribution="vocation-matching",
            description="Health, readiness and metrics of the matching service (it has no other endpoint).",
        )
        app.include_router(
            operations_router(
                [kafka_reachable(broker), postgres_reachable(pool), ReadinessCheck("indexes", indexes_ready)],
                metrics.registry,
            )
        )

        async def start() -> None:
            await reader.start()
            await reader.ready.wait()
            await handlers.load_learning()  # refusals and hires: they need the candidates and offers
            # The rebuilt indexes live as long as the process: out of the collector's full passes.
            freeze_long_lived()
            await publisher.start()
            # Join the group only once the state is whole: reactions need every candidate and offer.
            await broker.start()
            reacting.set()
            log.info("matching.reacting", group=settings.consumer_group)

        starting = asyncio.create_task(start(), name="matching-start")
        starting.add_done_callback(_log_failure)
        service = MatchingService(settings, state, reader, broker, pool, metrics, app, reacting)
        try:
            async with pruning(
                Retention(pool, [EMITTED_MATCHES], settings.retention()), settings.retention_every_s
            ):
                yield service
        finally:
            starting.cancel()
            with suppress(asyncio.CancelledError):
                await starting
            await broker.stop()
            await publisher.stop()
            await reader.stop()
