"""Which events each consumer applied already: the shared `processed_events` table."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg
from vocation_shared.postgres.idempotency import mark_many_processed
from vocation_shared.pseudonyms import PREFIX

_BARE_EVENT_ID = "event_id NOT LIKE '" + PREFIX.replace("_", "\\_") + "%'"
"""A processed mark written before pseudonyms (the predicate of migration 0006's partial index)."""


class PostgresProcessedEvents:
    """The `ProcessedEvents` port on one transaction's connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def mark_many(self, consumer: str, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Mark (source, event id) pairs processed; returns the pairs not seen before."""
        return await mark_many_processed(self._conn, consumer, list(keys))

    async def pseudonymize_bare(self, key_of: Callable[[str], str], chunk: int = 10_000) -> int:
        """Rewrite up to `chunk` marks written before pseudonyms (bare event ids); how many.

        Idempotent; the service runs it at start until none is left. The partial index of
        migration 0006 finds the rows left at once.
        """
        rows = await self._conn.fetch(
            f"SELECT consumer, source, event_id FROM processed_events WHERE {_BARE_EVENT_ID} LIMIT $1",
            chunk,
        )
        if not rows:
            return 0
        await self._conn.execute(
            """
            INSERT INTO processed_events (consumer, source, event_id, processed_at)
            SELECT e.consumer, e.source, k.new, e.processed_at
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(consumer, source, old, new)
            JOIN processed_events e ON (e.consumer, e.source, e.event_id) = (k.consumer, k.source, k.old)
            ON CONFLICT DO NOTHING
            """,
            [r["consumer"] for r in rows],
            [r["source"] for r in rows],
            [r["event_id"] for r in rows],
            [key_of(r["event_id"]) for r in rows],
        )
        await self._conn.execute(
            """
            DELETE FROM processed_events e USING unnest($1::text[], $2::text[], $3::text[]) AS k(consumer, source, old)
            WHERE (e.consumer, e.source, e.event_id) = (k.consumer, k.source, k.old)
            """,
            [r["consumer"] for r in rows],
            [r["source"] for r in rows],
            [r["event_id"] for r in rows],
        )
        return len(rows)
