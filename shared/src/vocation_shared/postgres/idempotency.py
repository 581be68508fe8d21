"""Idempotent consumers: record an event id in the same transaction as its effect."""

from __future__ import annotations

import asyncpg


async def mark_processed(conn: asyncpg.Connection, consumer: str, source: str, event_id: str) -> bool:
    """Record that `consumer` applies event (`source`, `event_id`); False when it already had.

    Call it inside the transaction that applies the effect: a commit records both,
    a rollback neither. When it returns False, skip the effect.
    """
    inserted = await conn.fetchval(
        """
        INSERT INTO processed_events (consumer, source, event_id) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING
        RETURNING true
        """,
        consumer,
        source,
        event_id,
    )
    return bool(inserted)


async def mark_many_processed(
    conn: asyncpg.Connection, consumer: str, keys: list[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Record a batch of (source, event_id); returns those that were new (the others are done)."""
    if not keys:
        return set()
    rows = await conn.fetch(
        """
        INSERT INTO processed_events (consumer, source, event_id)
        SELECT $1, k.source, k.event_id FROM unnest($2::text[], $3::text[]) AS k(source, event_id)
        ON CONFLICT DO NOTHING
        RETURNING source, event_id
        """,
        consumer,
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["source"], r["event_id"]) for r in rows}
