"""The ledger of emitted matches in PostgreSQL (`Ledger`), bound to its unit of work's transaction.

Recording a batch's matches is three statements after the unit of work's BEGIN:

1. advisory locks on the hash buckets of the candidates' and offers' daily caps, so that concurrent
   recorders cannot both fill the last place under a cap;
2. one query giving the proposed rows already emitted (same candidate, offer source, offer id and
   version) or whose standing match with an older version of the offer had the same material
   content (fingerprint), and today's counts of the candidates and offers concerned; the rows
   within the caps are chosen here, in their order;
3. the insert of the chosen rows (`ON CONFLICT DO NOTHING`: a row a concurrent instance just
   inserted is skipped), in primary-key order, returning those inserted.

The rows travel as one JSON array per statement (`jsonb_array_elements`; the pool's codec writes it
with orjson) rather than one array parameter per column: asyncpg checks every element of an array
parameter, and a batch has thousands of them. Recording 990 matches cost the client 35 ms of CPU
with arrays and 8 ms with JSON; `jsonb` rather than `json` because PostgreSQL then parses the rows
once, not at every `->>` (median 110 ms against 139 ms for the whole recording, alternated on one
loaded server; BENCHMARKS.md, Matching).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from asyncpg.pool import PoolConnectionProxy
from vocation_shared.contracts.vocabulary import MatchWithdrawalReason, OfferKind
from vocation_shared.postgres.retention import Expiry

from vocation_matching.core.model import Match, OfferKey, OfferSource, Withdrawal

EMITTED_MATCHES = Expiry("emitted_matches", "emitted_at")
"""Matches emitted long ago: past the retention, a closing offer no longer withdraws them (their
notifications are gone too) and the same match may be found again."""

CAP_LOCK_BUCKETS = 128
"""Advisory-lock buckets per kind (candidates, offers): few locks per transaction, whatever its size."""


@dataclass(frozen=True, slots=True)
class Caps:
    """Matches emitted per offer and per candidate per local day."""

    per_offer: int
    per_candidate: int


# Counting today's matches then inserting is a read-then-write: two transactions emitting for the
# same candidate (the candidates and vacancies groups, or two instances) could both see room under
# the cap. Each first takes transaction-level advisory locks on the hash buckets of its candidates
# (class 1) and offers (class 2), in one sorted order, so they take turns instead. A statement of
# its own: the next one's snapshot must be taken once the locks are held.
_LOCK_CAP_BUCKETS = """
SELECT pg_advisory_xact_lock(b.kind, b.bucket)
FROM (
    SELECT 1 AS kind, ((hashtext(c)::bigint + 2147483648) % $3)::int AS bucket
    FROM jsonb_array_elements_text($1::jsonb) AS c
    UNION
    SELECT 2, ((hashtext(o)::bigint + 2147483648) % $3)::int FROM jsonb_array_elements_text($2::jsonb) AS o
) AS b
ORDER BY b.kind, b.bucket
"""

_PROPOSED = """
WITH p AS (
    SELECT x.n, x.r->>0 AS c, x.r->>1 AS s, x.r->>2 AS o, (x.r->>3)::integer AS v, x.r->>4 AS f
    FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(r, n)
)
SELECT 1 AS what, p.n::integer AS n, NULL::text AS a, NULL::text AS b, 0::bigint AS count
FROM p
WHERE EXISTS (
    SELECT 1 FROM emitted_matches e
    WHERE e.candidate_id = p.c AND e.offer_source = p.s AND e.offer_id = p.o
      AND (e.offer_version = p.v OR (e.fingerprint = p.f AND e.withdrawn_at IS NULL))
)
UNION ALL
SELECT 2, NULL, e.candidate_id, NULL, count(*)
FROM emitted_matches e
WHERE e.candidate_id IN (SELECT c FROM p) AND e.emitted_on = $2
GROUP BY e.candidate_id
UNION ALL
SELECT 3, NULL, e.offer_source, e.offer_id, count(*)
FROM emitted_matches e JOIN (SELECT DISTINCT s, o FROM p) AS q ON e.offer_source = q.s AND e.offer_id = q.o
WHERE e.emitted_on = $2
GROUP BY e.offer_source, e.offer_id
"""
"""What 1 = a proposed row (1-based position) already emitted or blocked by a standing match of the
same material content; 2 = a candidate's count today; 3 = an offer's count today."""

_INSERT = """
INSERT INTO emitted_matches
    (candidate_id, offer_source, offer_id, offer_version, match_id, offer_kind, fingerprint, score, emitted_on)
SELECT m.c, m.s, m.o, m.v, m.m, m.k, m.f, m.score, $2
FROM (
    SELECT r->>0 AS c, r->>1 AS s, r->>2 AS o, (r->>3)::integer AS v, r->>4 AS m, r->>5 AS k, r->>6 AS f,
           (r->>7)::smallint AS score
    FROM jsonb_array_elements($1::jsonb) AS r
) AS m
WHERE NOT EXISTS (
    SELECT 1 FROM emitted_matches e
    WHERE e.candidate_id = m.c AND e.offer_source = m.s AND e.offer_id = m.o
      AND e.fingerprint = m.f AND e.withdrawn_at IS NULL
)
ORDER BY m.c, m.s, m.o, m.v
ON CONFLICT DO NOTHING
RETURNING match_id
"""
"""Rows are inserted in primary-key order, whatever the batch: two transactions inserting
overlapping keys take their locks in the same order and cannot deadlock."""

_BLOCKED, _CANDIDATE_TODAY, _OFFER_TODAY = 1, 2, 3


class PostgresLedger:
    """`Ledger` on one connection, inside the transaction its unit of work opened."""

    def __init__(self, conn: PoolConnectionProxy, caps: Caps) -> None:
        self._conn = conn
        self._caps = caps

    async def record(self, matches: Sequence[Match], today: date) -> list[Match]:
        """Record, in their order, the matches never emitted before and within the daily caps; return them.

        `matches` may span many offers and candidates (a whole batch of events): they are taken
        in their order (each offer's best first), so the caps keep the first ones.
        """
        proposed: list[Match] = []
        keys: set[tuple[str, str, str, int]] = set()
        for match in matches:  # one per key: the first
            offer = match.offer
            key = (match.candidate_id, offer.source, offer.id, offer.version)
            if key not in keys:
                keys.add(key)
                proposed.append(match)
        if not proposed:
            return []
        conn = self._conn
        await conn.execute(
            _LOCK_CAP_BUCKETS,
            (sorted({m.candidate_id for m in proposed})),
            (sorted({f"{m.offer.source}:{m.offer.id}" for m in proposed})),
            CAP_LOCK_BUCKETS,
        )
        rows = [
            (m.candidate_id, m.offer.source, m.offer.id, m.offer.version, m.offer.fingerprint)
            for m in proposed
        ]
        blocked: set[int] = set()
        per_candidate: dict[str, int] = {}
        per_offer: dict[tuple[str, str], int] = {}
        for what, n, a, b, count in await conn.fetch(_PROPOSED, rows, today):
            if what == _BLOCKED:
                blocked.add(n)
            elif what == _CANDIDATE_TODAY:
                per_candidate[a] = count
            else:
                per_offer[a, b] = count
        chosen: list[tuple[Match, str]] = []
        cap_offer, cap_candidate = self._caps.per_offer, self._caps.per_candidate
        for n, match in enumerate(proposed, start=1):
            offer_key = (match.offer.source, match.offer.id)
            offer_count = per_offer.get(offer_key, 0)
            candidate_count = per_candidate.get(match.candidate_id, 0)
            if n in blocked or offer_count >= cap_offer or candidate_count >= cap_candidate:
                continue
            per_offer[offer_key] = offer_count + 1
            per_candidate[match.candidate_id] = candidate_count + 1
            chosen.append((match, match.match_id))  # a property that formats: once per match
        if not chosen:
            return []
        inserted = await conn.fetch(
            _INSERT,
            (
                [
                    (
                        m.candidate_id,
                        m.offer.source,
                        m.offer.id,
                        m.offer.version,
                        match_id,
                        m.offer.kind,
                        m.offer.fingerprint,
                        m.score,
                    )
                    for m, match_id in chosen
                ]
            ),
            today,
        )
        new_ids = {r[0] for r in inserted}
        return [m for m, match_id in chosen if match_id in new_ids]

    async def _withdraw(
        self, where: str, args: Sequence[object], reason: MatchWithdrawalReason
    ) -> list[Withdrawal]:
        """Withdraw the standing matches `where` says; return them."""
        rows = await self._conn.fetch(
            f"UPDATE emitted_matches SET withdrawn_at = now(), withdrawal_reason = ${len(args) + 1}"
            f" WHERE {where} AND withdrawn_at IS NULL"
            " RETURNING match_id, candidate_id, offer_id, offer_kind",
            *args,
            str(reason),
        )
        return [
            Withdrawal(r["match_id"], r["candidate_id"], r["offer_id"], OfferKind(r["offer_kind"]))
            for r in rows
        ]

    async def withdraw_offer(
        self, source: OfferSource, offer_id: str, reason: MatchWithdrawalReason
    ) -> list[Withdrawal]:
        """Withdraw every standing match of an offer (closed, filled, erased)."""
        return await self._withdraw("offer_source = $1 AND offer_id = $2", (str(source), offer_id), reason)

    async def withdraw_candidate(self, candidate_id: str, reason: MatchWithdrawalReason) -> list[Withdrawal]:
        """Withdraw every standing match of a candidate."""
        return await self._withdraw("candidate_id = $1", (candidate_id,), reason)

    async def withdraw_pairs(
        self, source: OfferSource, offer_id: str, candidate_ids: Sequence[str], reason: MatchWithdrawalReason
    ) -> list[Withdrawal]:
        """Withdraw the standing matches of an offer for some candidates."""
        if not candidate_ids:
            return []
        return await self._withdraw(
            "offer_source = $1 AND offer_id = $2 AND candidate_id = ANY($3::text[])",
            (str(source), offer_id, list(candidate_ids)),
            reason,
        )

    async def withdraw_candidate_pairs(
        self, candidate_id: str, offers: Sequence[OfferKey], reason: MatchWithdrawalReason
    ) -> list[Withdrawal]:
        """Withdraw a candidate's standing matches with some offers."""
        if not offers:
            return []
        return await self._withdraw(
            "candidate_id = $1 AND offer_source || ':' || offer_id = ANY($2::text[])",
            (candidate_id, [f"{source}:{offer_id}" for source, offer_id in offers]),
            reason,
        )

    async def forget_candidate(self, candidate_id: str) -> None:
        """Delete every row of a candidate (erasure)."""
        await self._conn.execute("DELETE FROM emitted_matches WHERE candidate_id = $1", candidate_id)

    async def standing_candidates(self, source: OfferSource, offer_id: str, before_version: int) -> list[str]:
        """Candidates with a standing match of an older version of the offer."""
        rows = await self._conn.fetch(
            "SELECT DISTINCT candidate_id FROM emitted_matches"
            " WHERE offer_source = $1 AND offer_id = $2 AND offer_version < $3 AND withdrawn_at IS NULL",
            str(source),
            offer_id,
            before_version,
        )
        return [r["candidate_id"] for r in rows]

    async def standing_offers_of(self, candidate_ids: Sequence[str]) -> dict[str, list[OfferKey]]:
        """The offers each of these candidates has a standing match with (one query)."""
        rows = await self._conn.fetch(
            "SELECT DISTINCT candidate_id, offer_source, offer_id FROM emitted_matches"
            " WHERE candidate_id = ANY($1::text[]) AND withdrawn_at IS NULL",
            list(candidate_ids),
        )
        found: dict[str, list[OfferKey]] = {}
        for r in rows:
            found.setdefault(r["candidate_id"], []).append((OfferSource(r["offer_source"]), r["offer_id"]))
        return found
