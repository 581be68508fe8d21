"""Daily digests: held match rows of `outbox` gathered into one digest row per person and channel."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
from vocation_shared.contracts.vocabulary import Channel

from vocation_notifications.core.digest import Digest, HeldRow


class PostgresDigests:
    """The `Digests` port on one transaction's connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def due_held(self, now: datetime, limit: int) -> list[HeldRow]:
        """Held match rows whose digest time has come, locked for this transaction."""
        records = await self._conn.fetch(
            """
            SELECT id, recipient_id, channel, payload FROM outbox
            WHERE state = 'held' AND not_before <= $1
            ORDER BY recipient_id, channel LIMIT $2 FOR UPDATE SKIP LOCKED
            """,
            now,
            limit,
        )
        return [
            HeldRow(str(r["id"]), r["recipient_id"], Channel(r["channel"]), r["payload"]) for r in records
        ]

    async def save(self, digest: Digest, now: datetime) -> None:
        """Insert the digest row (a later one the same day gets the next version) and mark its rows."""
        version = await self._conn.fetchval(
            """
            SELECT coalesce(max(about_version), 0) + 1 FROM outbox
            WHERE recipient_id = $1 AND channel = $2 AND purpose = 'digest' AND about_id = $3
            """,
            digest.recipient_id,
            str(digest.channel),
            digest.about_id,
        )
        digest_id = uuid.uuid4()
        await self._conn.execute(
            """
            INSERT INTO outbox (id, recipient_id, recipient_kind, channel, purpose, about_id, about_version,
                                payload, state, not_before, created_at)
            VALUES ($1, $2, 'candidate', $3, 'digest', $4, $5, $6::jsonb, 'pending', $7, $7)
            """,
            digest_id,
            digest.recipient_id,
            str(digest.channel),
            digest.about_id,
            version,
            digest.payload,
            now,
        )
        await self._conn.execute(
            "UPDATE outbox SET state = 'digested', digest_id = $1 WHERE id = ANY($2::uuid[])",
            digest_id,
            [uuid.UUID(i) for i in digest.row_ids],
        )
