"""The `Erasures` port on one transaction's connection, and the rewrite of the ledger's bare ids."""

from __future__ import annotations

from collections.abc import Collection

import asyncpg
from vocation_shared.logs import get_logger
from vocation_shared.pseudonyms import PREFIX, Pseudonymizer

log = get_logger(__name__)


class PostgresErasures:
    """`erased_candidates`: the erased candidates' pseudonyms."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def erased(self, pseudonym: str) -> bool:
        """Whether the candidate of this pseudonym was erased."""
        return bool(
            await self._conn.fetchval(
                "SELECT true FROM erased_candidates WHERE candidate_pseudonym = $1", pseudonym
            )
        )

    async def erased_among(self, pseudonyms: Collection[str]) -> frozenset[str]:
        """Which of these pseudonyms are of erased candidates (one query)."""
        if not pseudonyms:
            return frozenset()
        rows = await self._conn.fetch(
            "SELECT candidate_pseudonym FROM erased_candidates WHERE candidate_pseudonym = ANY($1::text[])",
            list(pseudonyms),
        )
        return frozenset(r[0] for r in rows)

    async def remember(self, pseudonym: str) -> None:
        """Remember the candidate of this pseudonym as erased."""
        await self._conn.execute(
            "INSERT INTO erased_candidates (candidate_pseudonym) VALUES ($1) ON CONFLICT DO NOTHING",
            pseudonym,
        )


async def pseudonymize_ledgers(pool: asyncpg.Pool, pseudonymizer: Pseudonymizer) -> int:
    """Rewrite the erasure ledger's rows written before pseudonyms (bare ids); how many.

    Idempotent: a row already holding a pseudonym (`ps1_…`) is left alone. Runs at start.
    """
    pattern = PREFIX.replace("_", "\\_") + "%"
    async with pool.acquire() as conn, conn.transaction():
        ids = [
            r[0]
            for r in await conn.fetch(
                "SELECT candidate_pseudonym FROM erased_candidates WHERE candidate_pseudonym NOT LIKE $1",
                pattern,
            )
        ]
        keys = [
            r[0]
            for r in await conn.fetch(
                "SELECT key FROM immersion_outcomes WHERE key LIKE 'erasure:%' AND key NOT LIKE $1",
                "erasure:" + pattern,
            )
        ]
        if ids:
            await conn.execute(
                "INSERT INTO erased_candidates (candidate_pseudonym, erased_at) "
                "SELECT p.pseudonym, e.erased_at FROM erased_candidates e "
                "JOIN unnest($1::text[], $2::text[]) AS p(id, pseudonym) ON e.candidate_pseudonym = p.id "
                "ON CONFLICT DO NOTHING",
                ids,
                [pseudonymizer.candidate(i) for i in ids],
            )
            await conn.execute(
                "DELETE FROM erased_candidates WHERE candidate_pseudonym = ANY($1::text[])", ids
            )
        if keys:
            await conn.execute(
                "UPDATE immersion_outcomes o SET key = p.new FROM unnest($1::text[], $2::text[]) AS p(old, new) "
                "WHERE o.key = p.old AND NOT EXISTS (SELECT 1 FROM immersion_outcomes x WHERE x.key = p.new)",
                keys,
                [f"erasure:{pseudonymizer.candidate(k.removeprefix('erasure:'))}" for k in keys],
            )
            await conn.execute("DELETE FROM immersion_outcomes WHERE key = ANY($1::text[])", keys)
    if ids or keys:
        log.info("erasure_ledger.pseudonymized", erased=len(ids), outcomes=len(keys))
    return len(ids) + len(keys)
