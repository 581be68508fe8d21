"""A tiny idempotent consumer for the integration tests of the Kafka plumbing: counts effects per event."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from vocation_shared.contracts import AnyEvent
from vocation_shared.kafka import DeadLetterPublisher, EventConsumer, RetryPolicy, make_broker
from vocation_shared.postgres import create_pool, mark_processed

MIGRATIONS = Path(__file__).parent / "ledger_migrations"


@dataclass
class Ledger:
    """Applies each vacancy event once: one row in `effects` per event."""

    pool: asyncpg.Pool
    consumer_name: str
    kill_after_effect_of: str | None = None

    async def handle(self, event: AnyEvent) -> None:
        # Deliveries are counted outside the transaction, to prove redelivery happened.
        await self.pool.execute("INSERT INTO deliveries (event_id) VALUES ($1)", event.id)
        async with self.pool.acquire() as conn, conn.transaction():
            if not await mark_processed(conn, self.consumer_name, event.source, event.id):
                return
            await conn.execute(
                "INSERT INTO effects (event_id, subject) VALUES ($1, $2)", event.id, event.subject
            )
        if event.id == self.kill_after_effect_of:
            # The effect is committed, the Kafka offset is not: die the hard way.
            os.kill(os.getpid(), signal.SIGKILL)


@asynccontextmanager
async def running_ledger(
    bootstrap: str, dsn: str, group_id: str, kill_after_effect_of: str | None = None
) -> AsyncIterator[Ledger]:
    """A started consumer of `vacancies` in group `group_id`, stopped on exit."""
    async with create_pool(dsn, migrations=[("ledger", MIGRATIONS)]) as pool:
        broker = make_broker(bootstrap, client_id=group_id)
        ledger = Ledger(pool, group_id, kill_after_effect_of)
        consumer = EventConsumer(
            broker, DeadLetterPublisher(broker, group_id), RetryPolicy(initial_s=0.05, max_s=0.5)
        )
        consumer.subscribe("vacancies", group_id=group_id, handle=ledger.handle, max_records=50)
        await broker.start()
        try:
            yield ledger
        finally:
            await broker.stop()
