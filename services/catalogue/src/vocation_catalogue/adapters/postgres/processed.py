"""The `ProcessedEvents` port on one transaction's connection: the shared `processed_events` table."""

from __future__ import annotations

import asyncpg
from vocation_shared.postgres import mark_processed


class PostgresProcessedEvents:
    """Which events each consumer applied already, marked in the transaction of their effect."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def mark(self, consumer: str, source: str, event_id: str) -> bool:
        """Mark the event processed; False when it was already."""
        return await mark_processed(self._conn, consumer, source, event_id)
