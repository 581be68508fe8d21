"""Facts to publish, recorded in the transaction that causes them: the `outcome_events` table."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import orjson
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import EVENT_TYPES, AnyEvent

from vocation_notifications.core.facts import QueuedFact, QueuedTombstone


def _fact(document: dict[str, Any]) -> QueuedFact:
    """A queued fact as stored: an event, or `{"tombstone": {"topic", "key"}}`."""
    tombstone = document.get("tombstone")
    if isinstance(tombstone, dict):
        return QueuedTombstone(str(tombstone["topic"]), str(tombstone["key"]))
    return EVENT_TYPES[document["type"]].model_validate(document)


class PostgresEventOutbox:
    """The `EventOutbox` port on one transaction's connection (published by the delivery worker)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def queue(self, events: Iterable[AnyEvent]) -> None:
        """Record facts to publish, in this transaction."""
        ids: list[str] = []
        bodies: list[str] = []
        for event in events:
            ids.append(event.id)
            bodies.append(orjson.dumps(event.to_json_dict()).decode())
        if len(ids) == 1:
            await self._conn.execute(
                "INSERT INTO outcome_events (event_id, event) VALUES ($1, $2::text::jsonb) ON CONFLICT DO NOTHING",
                ids[0],
                bodies[0],
            )
        elif ids:
            # One statement for the lot, in their order (`seq` follows the ordinality).
            await self._conn.execute(
                """
                INSERT INTO outcome_events (event_id, event)
                SELECT e.event_id, e.event::jsonb
                FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS e(event_id, event, n)
                ORDER BY e.n
                ON CONFLICT DO NOTHING
                """,
                ids,
                bodies,
            )

    async def queue_tombstone(self, topic: str, key: str) -> None:
        """Queue a tombstone after the facts queued so far, in this transaction."""
        await self._conn.execute(
            "INSERT INTO outcome_events (event_id, event) VALUES ($1, $2::text::jsonb)",
            f"tombstone.{uuid.uuid4()}",
            orjson.dumps({"tombstone": {"topic": topic, "key": key}}).decode(),
        )

    async def pending(self, limit: int) -> list[tuple[int, QueuedFact]]:
        """The oldest facts (events, tombstones) not published yet, in order, locked for this transaction."""
        records = await self._conn.fetch(
            "SELECT seq, event FROM outcome_events ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED", limit
        )
        return [(r["seq"], _fact(r["event"])) for r in records]

    async def delete(self, seqs: Sequence[int]) -> None:
        """Forget published facts."""
        await self._conn.execute("DELETE FROM outcome_events WHERE seq = ANY($1::bigint[])", list(seqs))

    async def drop_consent_updates(self, candidate_id: str) -> None:
        """Forget a candidate's `consent-updated` facts not published yet.

        An opt-out restatement not published yet carries the contact: published after the
        tombstone, it would bring the person back on the topic.
        """
        await self._conn.execute(
            "DELETE FROM outcome_events WHERE event->>'type' = $2 AND event->>'subject' = $1",
            candidate_id,
            ev.ConsentUpdated.TYPE,
        )
