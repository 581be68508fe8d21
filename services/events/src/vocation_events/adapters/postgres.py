"""PostgreSQL adapters: partners, idempotency claims, and the event archive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from vocation_shared.contracts.topics import Topic
from vocation_shared.postgres.retention import Expiry

from vocation_events.core.partners import Partner
from vocation_events.ports import ArchivedEvent, Claims, Unavailable

PERSONAL_TOPICS = ("candidates", "candidate-contacts", "matches", "notifications", "immersion-bookings")
INGESTED_EVENTS = Expiry("ingested_events", "accepted_at")
"""Idempotency claims of accepted events: past the retention, a partner's re-send is accepted again."""
DB_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
)


def _partner(row: asyncpg.Record) -> Partner:
    return Partner(
        name=row["name"],
        source=row["source"],
        allowed_types=frozenset(row["allowed_types"]),
        rate_per_s=row["rate_per_s"],
        burst=row["burst"],
        rome_v3=row["rome_v3"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        key_hint=row["key_hint"],
    )


class PgPartners:
    """Partners and their hashed keys."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def by_key_hash(self, key_hash: bytes) -> Partner | None:
        """The active partner holding this key, or None."""
        row = await self._pool.fetchrow(
            "SELECT * FROM partners WHERE key_hash = $1 AND revoked_at IS NULL", key_hash
        )
        return None if row is None else _partner(row)

    async def create(
        self,
        partner: Partner,
        key_hash: bytes,
    ) -> bool:
        """Add a partner; False if the name is taken."""
        inserted = await self._pool.fetchval(
            """
            INSERT INTO partners (name, source, allowed_types, key_hash, key_hint, rate_per_s, burst, rome_v3)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (name) DO NOTHING
            RETURNING true
            """,
            partner.name,
            partner.source,
            sorted(partner.allowed_types),
            key_hash,
            partner.key_hint,
            partner.rate_per_s,
            partner.burst,
            partner.rome_v3,
        )
        return bool(inserted)

    async def all(self) -> list[Partner]:
        """Every partner, revoked ones included, by name."""
        return [_partner(r) for r in await self._pool.fetch("SELECT * FROM partners ORDER BY name")]

    async def revoke(self, name: str) -> bool:
        """Revoke a partner's key; False if there is no such active partner."""
        done = await self._pool.fetchval(
            "UPDATE partners SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING true",
            name,
        )
        return bool(done)

    async def rotate(self, name: str, key_hash: bytes, key_hint: str) -> bool:
        """Give a partner a new key (the old one stops working); False if no such partner."""
        done = await self._pool.fetchval(
            """
            UPDATE partners SET key_hash = $2, key_hint = $3, revoked_at = NULL
            WHERE name = $1 RETURNING true
            """,
            name,
            key_hash,
            key_hint,
        )
        return bool(done)


class _PgClaim:
    def __init__(self, conn: asyncpg.Connection, taken: frozenset[str]) -> None:
        self._conn = conn
        self._taken = taken

    @property
    def taken(self) -> frozenset[str]:
        return self._taken

    async def erase_candidate(self, candidate_id: str, source: str, event_id: str) -> None:
        await erase_candidate(self._conn, candidate_id, source, event_id)


async def erase_candidate(conn: asyncpg.Connection, candidate_id: str, source: str, event_id: str) -> int:
    """Delete the archived events about a candidate and remember the erasure; rows deleted."""
    await conn.execute(
        """
        INSERT INTO erasures (candidate_id, source, event_id) VALUES ($1, $2, $3)
        ON CONFLICT (candidate_id) DO NOTHING
        """,
        candidate_id,
        source,
        event_id,
    )
    status: str = await conn.execute(
        """
        DELETE FROM archived_events
        WHERE topic = ANY($2::text[])
          AND (subject = $1 OR event -> 'data' ->> 'candidate_id' = $1)
        """,
        candidate_id,
        list(PERSONAL_TOPICS),
    )
    return int(status.split()[-1])


_CLAIM = """
WITH claimed AS (
    INSERT INTO ingested_events (source, event_id, type, subject, partner)
    SELECT $1, k.event_id, k.type, k.subject, $2
    FROM unnest($3::text[], $4::text[], $5::text[]) AS k(event_id, type, subject)
    ON CONFLICT DO NOTHING
    RETURNING event_id
)
SELECT CASE WHEN count(*) = cardinality($3::text[]) THEN NULL ELSE coalesce(array_agg(event_id), '{}') END
FROM claimed
"""


class PgClaims:
    """Idempotency claims held in a transaction until the records are acknowledged."""

    def __init__(self, pool: asyncpg.Pool, attempts: int = 3) -> None:
        self._pool = pool
        self._attempts = attempts

    @asynccontextmanager
    async def claim(self, claims: Claims) -> AsyncIterator[_PgClaim]:
        """Insert the claims in id order (concurrent requests lock in the same order); commit on exit.

        One statement for the whole request; it answers NULL when every key was won (the usual
        case, nothing to decode), else the ids won, from which the ones already taken follow.
        """
        ids = claims.ids
        order = sorted(range(len(ids)), key=ids.__getitem__)
        sorted_ids = [ids[i] for i in order]
        types, subjects = claims.types, claims.subjects
        try:
            conn: asyncpg.Connection = await self._pool.acquire()
        except DB_UNAVAILABLE as exc:
            raise Unavailable(f"PostgreSQL unreachable: {type(exc).__name__}") from exc
        try:
            transaction = conn.transaction()
            await transaction.start()
            try:
                won: list[str] | None = await conn.fetchval(
                    _CLAIM,
                    claims.source,
                    claims.partner,
                    sorted_ids,
                    [types[i] for i in order],
                    [subjects[i] for i in order],
                )
                yield _PgClaim(conn, _EMPTY if won is None else frozenset(ids).difference(won))
            except BaseException:
                await transaction.rollback()
                raise
            else:
                await transaction.commit()
        except DB_UNAVAILABLE as exc:
            raise Unavailable(f"PostgreSQL unavailable: {type(exc).__name__}") from exc
        except asyncpg.DeadlockDetectedError as exc:
            raise Unavailable("concurrent requests claimed the same events: retry") from exc
        finally:
            await self._pool.release(conn)


_EMPTY: frozenset[str] = frozenset()


class PgArchive:
    """The append-only archive of every event read from the entity topics."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def store(self, rows: Sequence[tuple[str, int, int, str, str, str, str, datetime, str]]) -> int:
        """Store (topic, partition, offset, source, id, type, subject, time, json) rows; new rows count.

        Already archived (source, id) and events about erased candidates are skipped.
        """
        if not rows:
            return 0
        columns: list[list[Any]] = [[] for _ in range(9)]
        for row in rows:
            for i, value in enumerate(row):
                columns[i].append(value)
        async with self._pool.acquire() as conn, conn.transaction():
            # An erasure being committed holds ROW EXCLUSIVE on `erasures` (its INSERT) until its
            # DELETE of the archive commits: this batch either waits and sees the erasure, or goes
            # first and is seen (and deleted) by the erasure's DELETE. Never both missed.
            await conn.execute("LOCK TABLE erasures IN SHARE MODE")
            status: str = await conn.execute(
                """
                INSERT INTO archived_events (topic, partition, "offset", source, event_id, type, subject, time, event)
                SELECT k.topic, k.partition, k.off, k.source, k.event_id, k.type, k.subject, k.time, k.event::jsonb
                FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
                            $8::timestamptz[], $9::text[])
                     AS k(topic, partition, off, source, event_id, type, subject, time, event)
                WHERE NOT EXISTS (
                    SELECT 1 FROM erasures e
                    WHERE e.candidate_id = k.subject AND k.topic = ANY($10::text[])
                )
                -- keyed by slot: the candidate is in the data (e.g. a booking archived after the erasure)
                AND NOT (k.topic = $11 AND EXISTS (
                    SELECT 1 FROM erasures e WHERE e.candidate_id = k.event::jsonb -> 'data' ->> 'candidate_id'
                ))
                ON CONFLICT (source, event_id) DO NOTHING
                """,
                *columns,
                list(PERSONAL_TOPICS),
                str(Topic.IMMERSION_BOOKINGS),
            )
        return int(status.split()[-1])

    async def forget(self, topic: str, subject: str) -> int:
        """A tombstone was read: delete the archived events of `subject` on `topic`."""
        status: str = await self._pool.execute(
            "DELETE FROM archived_events WHERE topic = $1 AND subject = $2", topic, subject
        )
        return int(status.split()[-1])

    async def history(self, subject: str, limit: int = 1000) -> list[ArchivedEvent]:
        """An entity's events, oldest first: by event time, then in Kafka order (ties are common)."""
        rows = await self._pool.fetch(
            """
            SELECT topic, partition, "offset", event, archived_at FROM archived_events
            WHERE subject = $1 ORDER BY time, topic, partition, "offset" LIMIT $2
            """,
            subject,
            limit,
        )
        return [ArchivedEvent(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def slice(
        self, topic: str, since: datetime, until: datetime | None, event_type: str | None
    ) -> AsyncIterator[ArchivedEvent]:
        """The archived events of a topic from `since` (event time), in Kafka order per partition."""
        async with self._pool.acquire() as conn, conn.transaction():
            cursor = conn.cursor(
                """
                SELECT topic, partition, "offset", event, archived_at FROM archived_events
                WHERE topic = $1 AND time >= $2 AND ($3::timestamptz IS NULL OR time < $3)
                  AND ($4::text IS NULL OR type = $4)
                ORDER BY partition, "offset", seq
                """,
                topic,
                since,
                until,
                event_type,
            )
            async for r in cursor:
                yield ArchivedEvent(r[0], r[1], r[2], r[3], r[4])
