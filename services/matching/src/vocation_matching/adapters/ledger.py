"""The ledger of emitted matches in PostgreSQL: each match is recorded and published once.

Emitting the matches of a whole batch of events is *insert, publish, commit* in one transaction:

1. find, in one query each, the proposed rows already emitted (same candidate, offer source,
   offer id and version) or whose standing match with an older version of the offer had the
   same material content (fingerprint), and today's counts for the daily caps (under advisory
   locks on the candidates' and offers' buckets, so concurrent emitters cannot both fill the
   last place under a cap); choose the rows within the caps;
2. insert them (``ON CONFLICT DO NOTHING``: a row a concurrent instance just inserted is
   skipped), in primary-key order;
3. send a ``match-found`` event for each inserted row, all at once, and wait for every
   acknowledgement;
4. commit.

A row is therefore committed only once its event is acknowledged by Kafka. Another instance
inserting the same key waits on the uncommitted row and then skips it, so two instances never
both publish a match. If the process dies after the publish and before the commit, the rows
are rolled back and the triggering events, whose offsets were not committed either, are
processed again: the matches are published again with the *same* CloudEvent ids (derived from
the deterministic match ids), which the consumers downstream deduplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import orjson
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.envelope import CLOUDEVENTS_CONTENT_TYPE
from vocation_shared.contracts.topics import Topic
from vocation_shared.contracts.vocabulary import MatchWithdrawalReason, OfferKind
from vocation_shared.kafka import headers as h
from vocation_shared.postgres.retention import Expiry

from vocation_matching.adapters.publishing import EncodedEvent, PublishesMany, encode, tombstone
from vocation_matching.core.model import Match, OfferKey, OfferSource

EMITTED_MATCHES = Expiry("emitted_matches", "emitted_at")
"""Matches emitted long ago: past the retention, a closing offer no longer withdraws them (their
notifications are gone too) and the same match may be found again."""


def match_found_event(match: Match, source: str, now: datetime | None = None) -> ev.MatchFound:
    """The `match-found` event of a match; its id depends only on the match id."""
    offer = match.offer
    payload = p.MatchFound(
        match_id=match.match_id,
        candidate_id=match.candidate_id,
        offer_id=offer.id,
        offer_kind=offer.kind,
        offer_version=offer.version,
        offer_title=offer.title,
        rome_code=offer.rome,
        commune_insee=offer.commune_insee,
        establishment_name=offer.establishment_name,
        distance_km=round(match.distance_km, 1),
        score=match.score,
        reasons=list(match.reasons),
        close_metier=match.close_metier,
        urgent=offer.urgent,
    )
    return ev.MatchFound.build(payload, source=source, id=f"found.{match.match_id}", time=now)


_MATCH_FOUND_HEADERS_BASE = (
    (h.CONTENT_TYPE, CLOUDEVENTS_CONTENT_TYPE.encode()),
    (h.CE_TYPE, ev.MatchFound.TYPE.encode()),
)


def encode_match_found(
    match: Match, source: str, now: datetime, *, match_id: str | None = None
) -> EncodedEvent:
    """The record of `match_found_event(match, source)` (at time `now`), without pydantic.

    Byte for byte what the validated model writes (a unit test checks it on varied matches):
    building and validating the model costs ~25 µs per event, and a batch of offers emits
    thousands. Every value comes from validated events (ids, title, codes) or from the core.
    """
    offer = match.offer
    match_id = match_id or match.match_id
    data: dict[str, Any] = {
        "match_id": match_id,
        "candidate_id": match.candidate_id,
        "offer_id": offer.id,
        "offer_kind": str(offer.kind),
        "offer_version": offer.version,
        "offer_title": offer.title,
        "rome_code": offer.rome,
        "commune_insee": offer.commune_insee,
    }
    if offer.establishment_name is not None:
        data["establishment_name"] = offer.establishment_name
    data["distance_km"] = round(match.distance_km, 1)
    data["score"] = match.score
    data["reasons"] = list(match.reasons)
    data["close_metier"] = match.close_metier
    data["urgent"] = offer.urgent
    event_id = f"found.{match_id}"
    value = orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": source,
            "type": ev.MatchFound.TYPE,
            "subject": match.candidate_id,
            "time": now,
            "datacontenttype": "application/json",
            "data": data,
        },
        option=orjson.OPT_UTC_Z,
    )
    headers = [*_MATCH_FOUND_HEADERS_BASE, (h.CE_ID, event_id.encode()), (h.CE_SOURCE, source.encode())]
    return EncodedEvent(str(ev.MatchFound.TOPIC), match.candidate_id.encode(), value, headers)


def match_withdrawn_event(
    match_id: str,
    candidate_id: str,
    offer_id: str,
    kind: OfferKind,
    reason: MatchWithdrawalReason,
    source: str,
) -> ev.MatchWithdrawn:
    """The `match-withdrawn` event of a match; its id depends only on the match id."""
    payload = p.MatchWithdrawn(
        match_id=match_id, candidate_id=candidate_id, offer_id=offer_id, offer_kind=kind, reason=reason
    )
    return ev.MatchWithdrawn.build(payload, source=source, id=f"withdrawn.{match_id}")


_BLOCKED = """
SELECT p.n
FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[])
    WITH ORDINALITY AS p(candidate_id, offer_source, offer_id, offer_version, fingerprint, n)
WHERE EXISTS (
    SELECT 1 FROM emitted_matches e
    WHERE e.candidate_id = p.candidate_id AND e.offer_source = p.offer_source AND e.offer_id = p.offer_id
      AND (e.offer_version = p.offer_version OR (e.fingerprint = p.fingerprint AND e.withdrawn_at IS NULL))
)
"""
"""The proposed rows (by 1-based position) already emitted, or whose offer's standing match with the
candidate has the same material content (fingerprint)."""

CAP_LOCK_BUCKETS = 128
"""Advisory-lock buckets per kind (candidates, offers): few locks per transaction, whatever its size."""

# Counting today's matches then inserting is a read-then-write: two transactions emitting for the
# same candidate (the candidates and vacancies groups, or two instances) could both see room under
# the cap. Each first takes transaction-level advisory locks on the hash buckets of its
# candidates (class 1) and offers (class 2), in one sorted order, so they take turns instead.
_LOCK_CAP_BUCKETS = """
SELECT pg_advisory_xact_lock(b.kind, b.bucket)
FROM (
    SELECT 1 AS kind, ((hashtext(c)::bigint + 2147483648) % $3)::int AS bucket FROM unnest($1::text[]) AS c
    UNION
    SELECT 2, ((hashtext(o)::bigint + 2147483648) % $3)::int FROM unnest($2::text[]) AS o
) AS b
ORDER BY b.kind, b.bucket
"""

_CANDIDATES_TODAY = """
SELECT candidate_id, count(*) AS n FROM emitted_matches
WHERE candidate_id = ANY($1::text[]) AND emitted_on = $2 GROUP BY candidate_id
"""

_OFFERS_TODAY = """
SELECT e.offer_source, e.offer_id, count(*) AS n
FROM emitted_matches e JOIN unnest($1::text[], $2::text[]) AS o(offer_source, offer_id)
    ON e.offer_source = o.offer_source AND e.offer_id = o.offer_id
WHERE e.emitted_on = $3
GROUP BY e.offer_source, e.offer_id
"""

_INSERT = """
INSERT INTO emitted_matches
    (candidate_id, offer_source, offer_id, offer_version, match_id, offer_kind, fingerprint, score, emitted_on)
SELECT m.candidate_id, m.offer_source, m.offer_id, m.offer_version, m.match_id, m.offer_kind, m.fingerprint,
       m.score, $9
FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::text[], $7::text[],
            $8::smallint[])
    AS m(candidate_id, offer_source, offer_id, offer_version, match_id, offer_kind, fingerprint, score)
WHERE NOT EXISTS (
    SELECT 1 FROM emitted_matches e
    WHERE e.candidate_id = m.candidate_id AND e.offer_source = m.offer_source AND e.offer_id = m.offer_id
      AND e.fingerprint = m.fingerprint AND e.withdrawn_at IS NULL
)
ORDER BY m.candidate_id, m.offer_source, m.offer_id, m.offer_version
ON CONFLICT DO NOTHING
RETURNING match_id
"""
"""Rows are inserted in primary-key order, whatever the batch: two transactions inserting
overlapping keys take their locks in the same order and cannot deadlock."""


class PostgresMatchLedger:
    """`MatchLedger` on PostgreSQL, publishing with acks=all inside the recording transaction."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: PublishesMany,
        source: str,
        *,
        daily_cap_per_offer: int,
        daily_cap_per_candidate: int,
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._source = source
        self._cap_offer = daily_cap_per_offer
        self._cap_candidate = daily_cap_per_candidate

    async def emit(self, matches: Sequence[Match], today: date) -> list[Match]:
        """Record and publish, in one transaction, the matches never emitted before, within the daily caps.

        `matches` may span many offers and candidates (a whole batch of events): they are taken
        in their order (each offer's best first), so the caps keep the first ones.
        """
        proposed: list[Match] = []
        keys: set[tuple[str, OfferSource, str, int]] = set()
        for match in matches:  # one per key: the first
            key = (match.candidate_id, match.offer.source, match.offer.id, match.offer.version)
            if key not in keys:
                keys.add(key)
                proposed.append(match)
        if not proposed:
            return []
        candidate_ids = [m.candidate_id for m in proposed]
        sources = [str(m.offer.source) for m in proposed]
        offer_ids = [m.offer.id for m in proposed]
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                _LOCK_CAP_BUCKETS,
                sorted(set(candidate_ids)),
                sorted({f"{m.offer.source}:{m.offer.id}" for m in proposed}),
                CAP_LOCK_BUCKETS,
            )
            blocked = {
                r["n"]
                for r in await conn.fetch(
                    _BLOCKED,
                    candidate_ids,
                    sources,
                    offer_ids,
                    [m.offer.version for m in proposed],
                    [m.offer.fingerprint for m in proposed],
                )
            }
            per_candidate = {
                r["candidate_id"]: int(r["n"])
                for r in await conn.fetch(_CANDIDATES_TODAY, sorted(set(candidate_ids)), today)
            }
            offers = sorted({(m.offer.source, m.offer.id) for m in proposed})
            per_offer = {
                (OfferSource(r["offer_source"]), r["offer_id"]): int(r["n"])
                for r in await conn.fetch(
                    _OFFERS_TODAY, [str(s) for s, _ in offers], [i for _, i in offers], today
                )
            }
            chosen: list[Match] = []
            for n, match in enumerate(proposed, start=1):
                offer_key = match.offer.key
                if (
                    n in blocked
                    or per_offer.get(offer_key, 0) >= self._cap_offer
                    or per_candidate.get(match.candidate_id, 0) >= self._cap_candidate
                ):
                    continue
                per_offer[offer_key] = per_offer.get(offer_key, 0) + 1
                per_candidate[match.candidate_id] = per_candidate.get(match.candidate_id, 0) + 1
                chosen.append(match)
            if not chosen:
                return []
            ids = [m.match_id for m in chosen]  # a property that formats: once per match
            inserted = await conn.fetch(
                _INSERT,
                [m.candidate_id for m in chosen],
                [str(m.offer.source) for m in chosen],
                [m.offer.id for m in chosen],
                [m.offer.version for m in chosen],
                ids,
                [str(m.offer.kind) for m in chosen],
                [m.offer.fingerprint for m in chosen],
                [m.score for m in chosen],
                today,
            )
            new_ids = {r["match_id"] for r in inserted}
            emitted = [(m, i) for m, i in zip(chosen, ids, strict=True) if i in new_ids]
            if emitted:
                now = datetime.now(UTC)
                await self._publisher.publish_encoded(
                    [encode_match_found(m, self._source, now, match_id=i) for m, i in emitted]
                )
        return [m for m, _ in emitted]

    async def _withdraw(
        self,
        where: str,
        args: Sequence[object],
        reason: MatchWithdrawalReason,
        erase: bool,
        tombstones: Sequence[str] = (),
    ) -> int:
        """Withdraw the standing matches `where` says; on `erase`, forget them; then the tombstones.

        The `match-withdrawn` events then the tombstones (keys of `matches`) are written in this
        order and acknowledged before the transaction commits.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"UPDATE emitted_matches SET withdrawn_at = now(), withdrawal_reason = ${len(args) + 1}"
                f" WHERE {where} AND withdrawn_at IS NULL"
                " RETURNING match_id, candidate_id, offer_id, offer_kind",
                *args,
                str(reason),
            )
            records = [
                encode(
                    match_withdrawn_event(
                        r["match_id"],
                        r["candidate_id"],
                        r["offer_id"],
                        OfferKind(r["offer_kind"]),
                        reason,
                        self._source,
                    )
                )
                for r in rows
            ]
            records += [tombstone(str(Topic.MATCHES), key) for key in tombstones]
            if records:
                await self._publisher.publish_encoded(records)
            if erase:
                await conn.execute(f"DELETE FROM emitted_matches WHERE {where}", *args)
        return len(rows)

    async def withdraw_offer(self, source: OfferSource, offer_id: str, reason: MatchWithdrawalReason) -> int:
        """Withdraw every standing match of an offer (closed, filled, erased)."""
        return await self._withdraw(
            "offer_source = $1 AND offer_id = $2", (str(source), offer_id), reason, False
        )

    async def withdraw_candidate(
        self, candidate_id: str, reason: MatchWithdrawalReason, *, erase: bool
    ) -> int:
        """Withdraw every standing match of a candidate; on erasure, forget the rows too, and write
        a tombstone of the candidate on `matches` after the withdrawals: compaction then removes
        every match event about them (records keyed by candidate id)."""
        tombstones = (candidate_id,) if erase else ()
        return await self._withdraw("candidate_id = $1", (candidate_id,), reason, erase, tombstones)

    async def standing_candidates(self, source: OfferSource, offer_id: str, before_version: int) -> list[str]:
        """Candidates with a standing match of an older version of the offer."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT candidate_id FROM emitted_matches"
            " WHERE offer_source = $1 AND offer_id = $2 AND offer_version < $3 AND withdrawn_at IS NULL",
            str(source),
            offer_id,
            before_version,
        )
        return [r["candidate_id"] for r in rows]

    async def withdraw_pairs(
        self, source: OfferSource, offer_id: str, candidate_ids: Sequence[str], reason: MatchWithdrawalReason
    ) -> int:
        """Withdraw the standing matches of an offer for some candidates."""
        if not candidate_ids:
            return 0
        return await self._withdraw(
            "offer_source = $1 AND offer_id = $2 AND candidate_id = ANY($3::text[])",
            (str(source), offer_id, list(candidate_ids)),
            reason,
            False,
        )

    async def standing_offers_of(self, candidate_ids: Sequence[str]) -> dict[str, list[OfferKey]]:
        """The offers each of these candidates has a standing match with (one query)."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT candidate_id, offer_source, offer_id FROM emitted_matches"
            " WHERE candidate_id = ANY($1::text[]) AND withdrawn_at IS NULL",
            list(candidate_ids),
        )
        found: dict[str, list[OfferKey]] = {}
        for r in rows:
            found.setdefault(r["candidate_id"], []).append((OfferSource(r["offer_source"]), r["offer_id"]))
        return found

    async def withdraw_candidate_pairs(
        self, candidate_id: str, offers: Sequence[tuple[OfferSource, str]], reason: MatchWithdrawalReason
    ) -> int:
        """Withdraw a candidate's standing matches with some offers."""
        if not offers:
            return 0
        return await self._withdraw(
            "candidate_id = $1 AND offer_source || ':' || offer_id = ANY($2::text[])",
            (candidate_id, [f"{source}:{offer_id}" for source, offer_id in offers]),
            reason,
            False,
        )
