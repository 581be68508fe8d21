"""PostgreSQL adapters: partners, idempotency claims and entity owners (the archive: `archive_store.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg
from vocation_shared.postgres.retention import Expiry

from vocation_events.core.ownership import Ref, Refusal, decide
from vocation_events.core.partners import Partner
from vocation_events.ports import Claim, Claims, OwnedEntity

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


class PostgresPartners:
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
        """Give an active partner a new key (the old one stops working); False if no such active partner.

        A revoked partner stays revoked: `reactivate` brings it back, explicitly.
        """
        done = await self._pool.fetchval(
            """
            UPDATE partners SET key_hash = $2, key_hint = $3
            WHERE name = $1 AND revoked_at IS NULL RETURNING true
            """,
            name,
            key_hash,
            key_hint,
        )
        return bool(done)

    async def reactivate(self, name: str, key_hash: bytes, key_hint: str) -> bool:
        """Bring a revoked partner back with a new key (its old key stays dead); False if not revoked."""
        done = await self._pool.fetchval(
            """
            UPDATE partners SET key_hash = $2, key_hint = $3, revoked_at = NULL
            WHERE name = $1 AND revoked_at IS NOT NULL RETURNING true
            """,
            name,
            key_hash,
            key_hint,
        )
        return bool(done)

    async def by_name(self, name: str) -> Partner | None:
        """The partner of that name, revoked or not."""
        row = await self._pool.fetchrow("SELECT * FROM partners WHERE name = $1", name)
        return None if row is None else _partner(row)


_CLAIM = """
WITH claimed AS (
    INSERT INTO ingested_events (source, event_id, type, partner)
    SELECT $1, k.event_id, k.type, $2
    FROM unnest($3::text[], $4::text[]) AS k(event_id, type)
    ON CONFLICT DO NOTHING
    RETURNING event_id
)
SELECT CASE WHEN count(*) = cardinality($3::text[]) THEN NULL ELSE coalesce(array_agg(event_id), '{}') END
FROM claimed
"""


# `core.ownership.decide` in one statement: the current owners of the entities the events name
# (an index probe each, whatever the plan cache decides), which events are refused (an entity of
# another source, unless a vouching ref is the source's; a required entity that is not the
# source's, owned by another or by no one), and the claim of the unowned entities of
# the others, in (kind, id) order. It answers (raced, refusals): `raced` is true when another
# request claimed one of those entities between this statement's snapshot and its insert (that
# request committed meanwhile; the refusals are then decided again on the owners read afresh by
# `_OWNERS`); `refusals` is NULL when nothing was refused (the usual case), else (event, ref, owner)
# arrays. It runs with a custom plan: the generic plan that PostgreSQL gives a prepared statement
# after five runs guesses a few rows per array, and its joins of the CTEs became nested loops,
# quadratic in the batch (150-200 ms instead of 30 ms for 1,000 events).
_OWN = """
WITH r AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::int[], $5::int[], $6::bool[], $7::bool[])
        AS r(kind, entity_id, event_no, ref_no, claims, required)
), cur AS (
    SELECT r.*, (SELECT o.owner FROM entity_owners o WHERE o.kind = r.kind AND o.entity_id = r.entity_id) AS owner
    FROM r
), verdict AS (
    SELECT event_no,
           coalesce(bool_or(NOT claims AND NOT required AND owner = $1), false) AS vouched,
           coalesce(bool_or((claims AND owner <> $1) OR (required AND owner IS DISTINCT FROM $1)), false)
               AS conflict
    FROM cur GROUP BY event_no
), wanted AS (
    SELECT DISTINCT c.kind, c.entity_id FROM cur c JOIN verdict v USING (event_no)
    WHERE c.claims AND c.owner IS NULL AND NOT v.vouched AND NOT v.conflict
), ins AS (
    INSERT INTO entity_owners (kind, entity_id, owner)
    SELECT kind, entity_id, $1 FROM wanted ORDER BY 1, 2
    ON CONFLICT DO NOTHING
    RETURNING 1
), answer AS (
    SELECT c.event_no, c.ref_no, c.owner FROM cur c JOIN verdict v USING (event_no)
    WHERE NOT v.vouched AND v.conflict
      AND ((c.claims AND c.owner <> $1) OR (c.required AND c.owner IS DISTINCT FROM $1))
)
SELECT (SELECT count(*) FROM ins) < (SELECT count(*) FROM wanted),
       CASE WHEN count(*) = 0 THEN NULL
            ELSE ARRAY[array_agg(event_no ORDER BY event_no, ref_no)::text[],
                       array_agg(ref_no ORDER BY event_no, ref_no)::text[],
                       array_agg(owner ORDER BY event_no, ref_no)] END
FROM answer
"""
_OWNERS = """
SELECT k.kind, k.entity_id,
       (SELECT o.owner FROM entity_owners o WHERE o.kind = k.kind AND o.entity_id = k.entity_id)
FROM unnest($1::text[], $2::text[]) AS k(kind, entity_id)
"""

# The usual request in one statement: every event's refs claim (no vouching ref), and no entity
# named is another source's. It reads the owners of the distinct entities named (a primary-key
# probe each, no join: no plan can make it quadratic), and only when none is another source's,
# inserts the unowned ones in (kind, id) order (a plain INSERT: a concurrent first publisher makes
# it fail, and the claim starts again on the full path), then the idempotency keys. It answers (clash, won): `clash` true means nothing was inserted and the events
# go through `_OWN`; `won` is NULL when every key was won, else the ids won.
_FAST = """
WITH r AS (
    SELECT k.kind, k.entity_id,
           (SELECT o.owner FROM entity_owners o WHERE o.kind = k.kind AND o.entity_id = k.entity_id) AS owner
    FROM unnest($3::text[], $4::text[]) AS k(kind, entity_id)
), clash AS (
    SELECT EXISTS (SELECT 1 FROM r WHERE owner <> $1) AS found
), own AS (
    INSERT INTO entity_owners (kind, entity_id, owner)
    SELECT kind, entity_id, $1 FROM r WHERE owner IS NULL AND NOT (SELECT found FROM clash) ORDER BY 1, 2
    RETURNING 1
), claimed AS (
    INSERT INTO ingested_events (source, event_id, type, partner)
    SELECT $1, k.event_id, k.type, $2
    FROM unnest($5::text[], $6::text[]) AS k(event_id, type)
    -- `count(*) FROM own`: the owners are inserted (locked) before the keys, as on the full path.
    WHERE NOT (SELECT found FROM clash) AND (SELECT count(*) FROM own) >= 0
    ON CONFLICT DO NOTHING
    RETURNING event_id
)
SELECT (SELECT found FROM clash),
       CASE WHEN count(*) = cardinality($5::text[]) THEN NULL ELSE coalesce(array_agg(event_id), '{}') END
FROM claimed
"""


async def _check_owners(
    conn: asyncpg.Connection, source: str, refs: Sequence[Sequence[Ref]]
) -> dict[int, Refusal]:
    """The events refused for naming another source's entity; the unowned entities of the others are claimed."""
    kinds: list[str] = []
    entity_ids: list[str] = []
    event_nos: list[int] = []
    ref_nos: list[int] = []
    claims: list[bool] = []
    required: list[bool] = []
    for event_no, event_refs in enumerate(refs):
        for ref_no, ref in enumerate(event_refs):
            kinds.append(ref.kind)
            entity_ids.append(ref.entity_id)
            event_nos.append(event_no)
            ref_nos.append(ref_no)
            claims.append(ref.claims)
            required.append(ref.required)
    if not kinds:
        return {}
    # A plan for these very arrays (the generic plan's guesses make its joins quadratic).
    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    raced, answer = await conn.fetchrow(_OWN, source, kinds, entity_ids, event_nos, ref_nos, claims, required)
    if raced:
        # Claimed by a request that committed during the statement: decide again on the owners as
        # they are now (this transaction's own claims included; it claims nothing more).
        rows = await conn.fetch(_OWNERS, kinds, entity_ids)
        owners = {(row[0], row[1]): row[2] for row in rows if row[2] is not None}
        return decide(refs, owners, source)[0]
    if answer is None:
        return {}
    refused: dict[int, Refusal] = {}
    for event_no, ref_no, owner in zip(*answer, strict=True):
        refused.setdefault(int(event_no), Refusal(int(ref_no), owner))
    return refused


class PostgresClaimRepository:
    """The `ClaimRepository` port on one unit of work's connection: claims and owners held until it ends."""

    def __init__(self, conn: asyncpg.Connection, restart: Callable[[], Awaitable[None]]) -> None:
        self._conn = conn
        self._restart = restart

    async def claim(self, claims: Claims) -> Claim:
        """Check and claim owners, then the keys, each in sorted order (concurrent requests lock
        in the same order).

        The usual request takes one statement (`_FAST`); a request naming another source's entity,
        with a vouching or a required ref, or racing another first publisher takes the full path (`_OWN`, then
        `_CLAIM`), whose answers say which events are refused and which keys were taken. The first
        statement of its unit of work: a race lost on the fast path restarts the transaction.
        """
        named = _claimed_entities(claims.refs)
        if named is not None:
            try:
                outcome = await _claim_fast(self._conn, claims, named)
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name != "entity_owners_pkey":
                    raise
                # A first publisher committed one of these entities meanwhile: start again.
                await self._restart()
            else:
                if outcome is not None:
                    return outcome
        return await _claim_full(self._conn, claims)

    async def release_candidate(self, candidate_id: str) -> None:
        """An erased person leaves no owner behind: the id is free, a later registration is a new person."""
        await self._conn.execute(
            "DELETE FROM entity_owners WHERE kind = 'candidate' AND entity_id = $1", candidate_id
        )


def _claimed_entities(refs: Sequence[Sequence[Ref]]) -> tuple[list[str], list[str]] | None:
    """The distinct entities the events name, as (kinds, ids); None if a ref does not claim (it
    vouches, or it is required: both take the full path).

    `_FAST` inserts them in (kind, id) order, as `_OWN` does (the order concurrent claims lock them in).
    """
    named: set[tuple[str, str]] = set()
    add = named.add
    for event_refs in refs:
        for kind, entity_id, _pointer, claims, _required in event_refs:
            if not claims:
                return None
            add((kind, entity_id))
    return [kind for kind, _ in named], [entity_id for _, entity_id in named]


async def _claim_fast(
    conn: asyncpg.Connection, claims: Claims, named: tuple[list[str], list[str]]
) -> Claim | None:
    """`_FAST`: the outcome, or None when an entity is another source's (nothing was inserted)."""
    ids = claims.ids
    order = sorted(range(len(ids)), key=ids.__getitem__)
    sorted_ids = [ids[i] for i in order]
    clash, won = await conn.fetchrow(
        _FAST,
        claims.source,
        claims.partner,
        named[0],
        named[1],
        sorted_ids,
        [claims.types[i] for i in order],
    )
    if clash:
        return None
    return Claim(_EMPTY if won is None else frozenset(sorted_ids).difference(won), _NONE)


async def _claim_full(conn: asyncpg.Connection, claims: Claims) -> Claim:
    """Owners by `_OWN` (refusals, vouching refs, races), then the keys of the events not refused."""
    ids = claims.ids
    refused = await _check_owners(conn, claims.source, claims.refs) if claims.refs else {}
    kept = [i for i in range(len(ids)) if i not in refused] if refused else range(len(ids))
    order = sorted(kept, key=ids.__getitem__)
    won: list[str] | None = None
    if order:
        won = await conn.fetchval(
            _CLAIM,
            claims.source,
            claims.partner,
            [ids[i] for i in order],
            [claims.types[i] for i in order],
        )
    taken = _EMPTY if won is None else frozenset(ids[i] for i in order).difference(won)
    return Claim(taken, refused)


_NONE: Mapping[int, Refusal] = {}


_EMPTY: frozenset[str] = frozenset()


class PostgresOwners:
    """Who owns which entity: partners read their own; operators transfer (audited)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def owned(self, source: str, kind: str, after: str | None, limit: int) -> list[OwnedEntity]:
        """The entities of `kind` that `source` owns, by id, after the id `after`, `limit` at most."""
        rows = await self._pool.fetch(
            """
            SELECT kind, entity_id, claimed_at FROM entity_owners
            WHERE owner = $1 AND kind = $2 AND ($3::text IS NULL OR entity_id > $3)
            ORDER BY entity_id LIMIT $4
            """,
            source,
            kind,
            after,
            limit,
        )
        return [OwnedEntity(r[0], r[1], r[2]) for r in rows]

    async def owner_of(self, kind: str, entity_id: str) -> str | None:
        """The source owning an entity, or None."""
        owner: str | None = await self._pool.fetchval(
            "SELECT owner FROM entity_owners WHERE kind = $1 AND entity_id = $2", kind, entity_id
        )
        return owner

    async def transfer(
        self, kind: str, entity_id: str, to_partner: Partner, operator: str, reason: str | None
    ) -> str | None:
        """Give an entity to a partner's source and audit it, in one transaction; the previous owner.

        An entity without an owner yet is given too (the partner will publish it). Events in flight
        were checked against the owner their claim read.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            previous: str | None = await conn.fetchval(
                "SELECT owner FROM entity_owners WHERE kind = $1 AND entity_id = $2 FOR UPDATE",
                kind,
                entity_id,
            )
            await conn.execute(
                """
                INSERT INTO entity_owners (kind, entity_id, owner) VALUES ($1, $2, $3)
                ON CONFLICT (kind, entity_id) DO UPDATE SET owner = EXCLUDED.owner, claimed_at = now()
                """,
                kind,
                entity_id,
                to_partner.source,
            )
            await conn.execute(
                """
                INSERT INTO ownership_transfers (kind, entity_id, from_owner, to_owner, to_partner, operator, reason)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                """,
                kind,
                entity_id,
                previous,
                to_partner.source,
                to_partner.name,
                operator,
                reason,
            )
        return previous

    async def transfers(self, entity_id: str) -> list[dict[str, Any]]:
        """The audited transfers of an entity (any kind), oldest first."""
        rows = await self._pool.fetch(
            """
            SELECT kind, entity_id, from_owner, to_owner, to_partner, operator, reason, transferred_at
            FROM ownership_transfers WHERE entity_id = $1 ORDER BY seq
            """,
            entity_id,
        )
        return [dict(r) for r in rows]
