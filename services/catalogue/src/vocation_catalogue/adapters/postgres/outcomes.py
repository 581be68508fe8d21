"""The `Outcomes` port on one transaction's connection: the facts published per key, kept for replays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from vocation_shared.contracts.codec import parse_event
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic
from vocation_shared.facts import Fact, Tombstone


def _split(facts: Sequence[Fact]) -> tuple[list[dict[str, Any]], list[str]]:
    """The events (as JSON documents) and the tombstones' keys of `facts`."""
    events: list[AnyEvent] = [f for f in facts if not isinstance(f, Tombstone)]
    return [e.to_json_dict() for e in events], [f.key for f in facts if isinstance(f, Tombstone)]


class PostgresOutcomes:
    """`immersion_outcomes`: a key (`request:…`, `cancel:…`, `erasure:<pseudonym>`, `slot-event:…`),
    its events and the keys of its tombstones on `immersion-bookings`."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def earlier(self, key: str) -> list[Fact] | None:
        """The facts kept for `key`, events then tombstones, or None."""
        stored = await self._conn.fetchrow(
            "SELECT events, tombstones FROM immersion_outcomes WHERE key = $1", key
        )
        if stored is None:
            return None
        facts: list[Fact] = [parse_event(document) for document in stored["events"]]
        return facts + [Tombstone(str(Topic.IMMERSION_BOOKINGS), k) for k in stored["tombstones"]]

    async def keep(self, key: str, facts: Sequence[Fact]) -> None:
        """Keep the facts of a new `key`."""
        events, tombstones = _split(facts)
        await self._conn.execute(
            "INSERT INTO immersion_outcomes (key, events, tombstones) VALUES ($1, $2, $3)",
            key,
            events,
            tombstones,
        )

    async def replace(self, key: str, facts: Sequence[Fact]) -> None:
        """Keep the facts of `key`, replacing what was kept (each tombstone once)."""
        events, tombstones = _split(facts)
        await self._conn.execute(
            "INSERT INTO immersion_outcomes (key, events, tombstones) VALUES ($1, $2, $3) "
            "ON CONFLICT (key) DO UPDATE SET events = EXCLUDED.events, tombstones = EXCLUDED.tombstones",
            key,
            events,
            list(dict.fromkeys(tombstones)),
        )

    async def blank_candidate(self, candidate_id: str) -> set[tuple[str, str]]:
        """Empty the events of the outcomes telling of the candidate; the (slot, request) they told."""
        blanked = await self._conn.fetch(
            "WITH theirs AS ("
            " SELECT key, events FROM immersion_outcomes"
            " WHERE events @> jsonb_build_array(jsonb_build_object("
            " 'data', jsonb_build_object('candidate_id', $1::text))) FOR UPDATE)"
            " UPDATE immersion_outcomes o SET events = '[]'::jsonb FROM theirs"
            " WHERE o.key = theirs.key RETURNING theirs.events",
            candidate_id,
        )
        return {
            (str(e["data"]["slot_id"]), str(e["data"]["request_id"]))
            for row in blanked
            for e in row["events"]
            if isinstance(e.get("data"), dict)
            and e["data"].get("candidate_id") == candidate_id
            and "request_id" in e["data"]
        }
