"""The event archive and the erasure ledger in PostgreSQL (repositories bound to a unit of work's connection).

A withdrawal with erasure only records the erasure in its claim's transaction (`erase_candidate`);
the eraser (`handlers/erasure.py`) deletes the archived rows of recorded erasures, by the indexed
`candidate_id` column, in bounded batches, off the ingestion path, then marks each erasure applied.

Why nothing about an erased candidate survives: `PostgresArchiveRows.store` holds `erasures` in SHARE mode
for its transaction, and an erasure's INSERT needs ROW EXCLUSIVE. So a batch being archived
either waits for a committing erasure and skips its rows, or commits before the erasure does,
and the eraser, which reads erasures once they are committed, finds its rows and deletes them.

The ledger keeps the keyed pseudonym of the erased id (`vocation_shared.pseudonyms`), and the id
itself only until the eraser has applied the erasure: the id is what the archived rows are found
by; once they are gone, it is set to NULL. A late event about an erased candidate is recognised by
the pseudonym of its candidate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from vocation_shared.logs import get_logger
from vocation_shared.pseudonyms import Pseudonymizer

from vocation_events.ports import ArchivedEvent, ArchiveRow

log = get_logger(__name__)


async def erase_candidate(
    conn: asyncpg.Connection, pseudonym: str, candidate_id: str, source: str, event_id: str
) -> int:
    """Record an erasure in the claim's transaction (the eraser applies it); 1 if new, else 0.

    `pseudonym` is the candidate's (`Pseudonymizer.candidate`); the id is kept until applied.
    """
    status: str = await conn.execute(
        """
        INSERT INTO erasures (candidate_pseudonym, candidate_id, source, event_id) VALUES ($1, $2, $3, $4)
        ON CONFLICT (candidate_pseudonym) DO NOTHING
        """,
        pseudonym,
        candidate_id,
        source,
        event_id,
    )
    return int(status.split()[-1])


async def pseudonymize_erasures(pool: asyncpg.Pool, pseudonymizer: Pseudonymizer) -> int:
    """Give the erasures recorded before migration 0007 their pseudonym; the applied ones forget the id.

    Run when the service (or its command line) opens the database, before anything reads the
    ledger; idempotent, safe when several processes start at once. How many rows it converted.
    """
    ids: list[str] = [
        r[0] for r in await pool.fetch("SELECT candidate_id FROM erasures WHERE candidate_pseudonym IS NULL")
    ]
    if not ids:
        return 0
    status: str = await pool.execute(
        """
        UPDATE erasures e
        SET candidate_pseudonym = k.pseudonym,
            candidate_id = CASE WHEN e.applied_at IS NULL THEN e.candidate_id END
        FROM unnest($1::text[], $2::text[]) AS k(candidate_id, pseudonym)
        WHERE e.candidate_id = k.candidate_id AND e.candidate_pseudonym IS NULL
        """,
        ids,
        [pseudonymizer.candidate(i) for i in ids],
    )
    converted = int(status.split()[-1])
    log.info("erasures.pseudonymized", erasures=converted)
    return converted


class PostgresArchiveRows:
    """The `ArchiveRepository` port on one transaction's connection."""

    def __init__(self, conn: asyncpg.Connection, pseudonymizer: Pseudonymizer) -> None:
        self._conn = conn
        self._pseudonymizer = pseudonymizer

    async def store(self, rows: Sequence[ArchiveRow]) -> int:
        """Store rows (see `ArchiveRow`); how many were new.

        Already archived (source, id) and events about erased candidates are skipped.
        """
        if not rows:
            return 0
        columns: list[list[Any]] = [[] for _ in range(11)]
        pseudonym = self._pseudonymizer.candidate
        for row in rows:
            for i, value in enumerate(row):
                columns[i].append(value)
            columns[10].append(None if row[9] is None else pseudonym(row[9]))
        # See the module's docstring: an erasure committing meanwhile is either seen here or
        # waits for this transaction, whose rows the eraser then deletes.
        await self._conn.execute("LOCK TABLE erasures IN SHARE MODE")
        status: str = await self._conn.execute(
            """
            INSERT INTO archived_events
                (topic, partition, "offset", source, event_id, type, subject, time, event, candidate_id)
            SELECT k.topic, k.partition, k.off, k.source, k.event_id, k.type, k.subject, k.time,
                   k.event::jsonb, k.candidate_id
            FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
                        $8::timestamptz[], $9::text[], $10::text[], $11::text[])
                 AS k(topic, partition, off, source, event_id, type, subject, time, event, candidate_id,
                      candidate_pseudonym)
            WHERE k.candidate_id IS NULL
               OR NOT EXISTS (SELECT 1 FROM erasures e WHERE e.candidate_pseudonym = k.candidate_pseudonym)
            ON CONFLICT (source, event_id) DO NOTHING
            """,
            *columns,
        )
        return int(status.split()[-1])

    async def forget(self, topic: str, subject: str, of_record: tuple[str, str] | None = None) -> int:
        """A tombstone was read: delete the archived events of `subject` on `topic` (of one record)."""
        field, record_id = of_record or (None, None)
        status: str = await self._conn.execute(
            """
            DELETE FROM archived_events
            WHERE topic = $1 AND subject = $2 AND ($3::text IS NULL OR event->'data'->>$3 = $4)
            """,
            topic,
            subject,
            field,
            record_id,
        )
        return int(status.split()[-1])

    async def delete_of_candidates(self, candidate_ids: Sequence[str], limit: int) -> int:
        """Delete at most `limit` archived rows about these candidates, in one short statement."""
        status: str = await self._conn.execute(
            """
            DELETE FROM archived_events WHERE seq IN (
                SELECT seq FROM archived_events WHERE candidate_id = ANY($1::text[]) LIMIT $2
            )
            """,
            list(candidate_ids),
            limit,
        )
        return int(status.split()[-1])


class PostgresErasures:
    """The `ErasureRepository` port on one transaction's connection."""

    def __init__(self, conn: asyncpg.Connection, pseudonymizer: Pseudonymizer) -> None:
        self._conn = conn
        self._pseudonymizer = pseudonymizer

    async def record(self, candidate_id: str, source: str, event_id: str) -> None:
        """Record an erasure under the candidate's pseudonym (the id is kept until applied)."""
        await erase_candidate(
            self._conn, self._pseudonymizer.candidate(candidate_id), candidate_id, source, event_id
        )

    async def pending(self, limit: int) -> list[str]:
        """The candidate ids of up to `limit` erasures not applied yet, oldest first."""
        rows = await self._conn.fetch(
            "SELECT candidate_id FROM erasures WHERE applied_at IS NULL ORDER BY erased_at LIMIT $1", limit
        )
        return [r[0] for r in rows]

    async def count_pending(self) -> int:
        """Erasures recorded and not yet applied to the archive."""
        return int(await self._conn.fetchval("SELECT count(*) FROM erasures WHERE applied_at IS NULL"))

    async def erased_among(self, candidate_ids: Collection[str]) -> set[str]:
        """The ids among `candidate_ids` whose pseudonym the ledger holds."""
        if not candidate_ids:
            return set()
        by_pseudonym = {self._pseudonymizer.candidate(i): i for i in candidate_ids}
        rows = await self._conn.fetch(
            "SELECT candidate_pseudonym FROM erasures WHERE candidate_pseudonym = ANY($1::text[])",
            list(by_pseudonym),
        )
        return {by_pseudonym[r[0]] for r in rows}

    async def applied(self, candidate_ids: Sequence[str]) -> None:
        """Applied: the ledger keeps the pseudonym only."""
        await self._conn.execute(
            """
            UPDATE erasures SET applied_at = now(), candidate_id = NULL
            WHERE candidate_id = ANY($1::text[]) AND applied_at IS NULL
            """,
            list(candidate_ids),
        )


class PostgresArchive:
    """The archive as operators and tests read it (and store into it, each call its own transaction)."""

    def __init__(self, pool: asyncpg.Pool, pseudonymizer: Pseudonymizer) -> None:
        self._pool = pool
        self._pseudonymizer = pseudonymizer

    async def store(self, rows: Sequence[ArchiveRow]) -> int:
        """`PostgresArchiveRows.store` in a transaction of its own."""
        async with self._pool.acquire() as conn, conn.transaction():
            return await PostgresArchiveRows(conn, self._pseudonymizer).store(rows)

    async def history(self, subject: str, limit: int = 1000) -> list[ArchivedEvent]:
        """An entity's events as stored (sealed), oldest first: by event time, then in Kafka order."""
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
        """The archived events (sealed) of a topic from `since` (event time), in Kafka order per partition."""
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
