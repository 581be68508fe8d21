"""PostgreSQL adapters: partners and idempotency claims (the archive: `archive_store.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from vocation_shared.postgres.retention import Expiry

from vocation_events.adapters.archive_store import erase_candidate
from vocation_events.core.partners import Partner
from vocation_events.ports import Claims, Unavailable

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
