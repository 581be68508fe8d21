"""Which events each consumer applied already: the shared `processed_events` table."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from vocation_shared.postgres.idempotency import mark_many_processed


class PgProcessedEvents:
    """The `ProcessedEvents` port on one transaction's connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def mark_many(self, consumer: str, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Mark (source, event id) pairs processed; returns the pairs not seen before."""
        return await mark_many_processed(self._conn, consumer, list(keys))
