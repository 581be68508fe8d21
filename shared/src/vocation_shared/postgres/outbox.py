"""A transactional outbox: facts recorded in the transaction that causes them, relayed to Kafka in order.

For a service that must publish exactly what it committed: the facts (events, and tombstones
that erase a key from a compacted topic) are inserted in the caller's transaction, so a rollback
leaves none and a commit keeps them all; `OutboxRelay` then publishes them in the order they were
queued and deletes them in the transaction that read them.

The service's own migration creates the table (the helper takes its name and runs no migration):

    CREATE TABLE <table> (
        seq       bigserial PRIMARY KEY,    -- the order the facts were queued in
        event_id  text      NOT NULL UNIQUE, -- an event's id (queued once), or `tombstone.<uuid>`
        event     jsonb     NOT NULL        -- the event's JSON, or {"tombstone": {"topic", "key"}}
    );

Guarantees: published at least once (a relay that dies after publishing and before its commit
leaves the facts to the next one, with the same ids), in their queued order, one relay at a time
per table (a transaction-level advisory lock: a second relay finds it taken and returns at once).
Facts of one key are in causal order when the transactions that queue them are serialised (a
lock on the entity), as every writer of a key does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import asyncpg
import orjson

from vocation_shared.contracts.events import EVENT_TYPES, AnyEvent
from vocation_shared.facts import Fact, Tombstone

_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?")

RELAY_LOCK_CLASS = 0x6F757462
"""First key of the relays' advisory lock (`pg_try_advisory_xact_lock(class, hashtext(table))`):
the two-key space, apart from the single-key locks the services take."""


QueuedFact = Fact
"""What an outbox holds, in order: events, and tombstones published after the facts before them."""


class FactPublisher(Protocol):
    """What the relay publishes with (`vocation_shared.kafka.EventPublisher`)."""

    async def publish_many(self, events: Iterable[AnyEvent]) -> None:
        """Publish events in order; returns once the broker acknowledged them all."""
        ...

    async def tombstone(self, topic: str, key: str) -> None:
        """Write a tombstone (null value); returns once acknowledged."""
        ...


def table_name(name: str) -> str:
    """`name` if it is a plain (optionally schema-qualified) lower-case SQL identifier; else ValueError."""
    if not _TABLE_NAME.fullmatch(name):
        raise ValueError(f"not an outbox table name: {name!r}")
    return name


def _fact(document: dict[str, Any]) -> QueuedFact:
    """A queued fact as stored: an event, or `{"tombstone": {"topic", "key"}}`."""
    tombstone = document.get("tombstone")
    if isinstance(tombstone, dict):
        return Tombstone(str(tombstone["topic"]), str(tombstone["key"]))
    return EVENT_TYPES[document["type"]].model_validate(document)


class TransactionalOutbox:
    """The outbox `table` on one transaction's connection: queue facts, read and delete pending ones."""

    def __init__(self, conn: asyncpg.Connection, table: str) -> None:
        self._conn = conn
        self.table = table_name(table)

    async def queue(self, events: Iterable[AnyEvent]) -> None:
        """Record events to publish, in this transaction and in their order (an id already queued is
        kept once)."""
        ids: list[str] = []
        bodies: list[str] = []
        for event in events:
            ids.append(event.id)
            bodies.append(orjson.dumps(event.to_json_dict()).decode())
        if len(ids) == 1:
            await self._conn.execute(
                f"INSERT INTO {self.table} (event_id, event) VALUES ($1, $2::text::jsonb) ON CONFLICT DO NOTHING",
                ids[0],
                bodies[0],
            )
        elif ids:
            # One statement for the lot, in their order (`seq` follows the ordinality).
            await self._conn.execute(
                f"""
                INSERT INTO {self.table} (event_id, event)
                SELECT e.event_id, e.event::jsonb
                FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS e(event_id, event, n)
                ORDER BY e.n
                ON CONFLICT DO NOTHING
                """,
                ids,
                bodies,
            )

    async def queue_tombstone(self, topic: str, key: str) -> None:
        """Record a tombstone to publish after the facts queued so far, in this transaction."""
        await self._conn.execute(
            f"INSERT INTO {self.table} (event_id, event) VALUES ($1, $2::text::jsonb)",
            f"tombstone.{uuid.uuid4()}",
            orjson.dumps({"tombstone": {"topic": topic, "key": key}}).decode(),
        )

    async def pending(self, limit: int) -> list[tuple[int, QueuedFact]]:
        """The oldest facts not published yet, in order, locked for this transaction (rows another
        transaction is deleting are skipped)."""
        records = await self._conn.fetch(
            f"SELECT seq, event::text AS event FROM {self.table} ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        return [(r["seq"], _fact(orjson.loads(r["event"]))) for r in records]

    async def delete(self, seqs: Sequence[int]) -> None:
        """Forget published facts."""
        await self._conn.execute(f"DELETE FROM {self.table} WHERE seq = ANY($1::bigint[])", list(seqs))


async def publish_in_order(publisher: FactPublisher, facts: Sequence[QueuedFact]) -> None:
    """Events in runs (acknowledged together), each tombstone once the facts before it are acknowledged."""
    run: list[AnyEvent] = []
    for fact in facts:
        if isinstance(fact, Tombstone):
            if run:
                await publisher.publish_many(run)
                run = []
            await publisher.tombstone(fact.topic, fact.key)
        else:
            run.append(fact)
    if run:
        await publisher.publish_many(run)


class OutboxRelay:
    """Publishes what the outbox `table` holds, in order, then deletes it; `relay` until it is empty."""

    def __init__(self, pool: asyncpg.Pool, table: str, publisher: FactPublisher) -> None:
        self._pool = pool
        self._table = table_name(table)
        self._publisher = publisher

    async def relay(self, limit: int = 500) -> int:
        """Publish the committed facts, `limit` per transaction, until none is left or another relay
        holds the table; how many were published."""
        total = 0
        while True:
            done = await self.relay_once(limit)
            total += done
            if done < limit:
                return total

    async def relay_once(self, limit: int = 500) -> int:
        """One transaction: the oldest `limit` facts published (acknowledged), then deleted; 0 when
        none is pending or another relay is publishing this table (it keeps the order)."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", RELAY_LOCK_CLASS, self._table
            ):
                return 0
            outbox = TransactionalOutbox(conn, self._table)
            pending = await outbox.pending(limit)
            if pending:
                await publish_in_order(self._publisher, [fact for _, fact in pending])
                await outbox.delete([seq for seq, _ in pending])
            return len(pending)
