"""The ledger of emitted matches in PostgreSQL: each match is recorded and published once.

Emitting is *insert, publish, commit* in one transaction:

1. insert the new (candidate, offer source, offer id, offer version) rows, skipping those
   already there (``ON CONFLICT DO NOTHING``), those whose previous version of the offer had
   the same material content (fingerprint), and those beyond the daily caps;
2. publish a ``match-found`` event for each inserted row and wait for the acknowledgement;
3. commit.

A row is therefore committed only once its event is acknowledged by Kafka. Another instance
inserting the same key waits on the uncommitted row and then skips it, so two instances never
both publish a match. If the process dies after the publish and before the commit, the rows
are rolled back and the triggering event, whose offset was not committed either, is processed
again: the match is published again with the *same* CloudEvent id (derived from the
deterministic match id), which the consumers downstream deduplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.vocabulary import MatchWithdrawalReason, OfferKind
from vocation_shared.kafka import EventPublisher

from vocation_matching.core.model import Match, OfferSource


def match_found_event(match: Match, source: str) -> ev.MatchFound:
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
    )
    return ev.MatchFound.build(payload, source=source, id=f"found.{match.match_id}")


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


_INSERT = """
INSERT INTO emitted_matches
    (candidate_id, offer_source, offer_id, offer_version, match_id, offer_kind, fingerprint, score, emitted_on)
SELECT m.candidate_id, $1, $2, $3, m.match_id, $4, $5, m.score, $6
FROM unnest($7::text[], $8::text[], $9::smallint[]) WITH ORDINALITY AS m(candidate_id, match_id, score, n)
WHERE NOT EXISTS (
    SELECT 1 FROM emitted_matches e
    WHERE e.candidate_id = m.candidate_id AND e.offer_source = $1 AND e.offer_id = $2
      AND e.fingerprint = $5 AND e.withdrawn_at IS NULL
)
ORDER BY m.candidate_id
ON CONFLICT DO NOTHING
RETURNING match_id
"""


class PostgresMatchLedger:
    """`MatchLedger` on PostgreSQL, publishing with acks=all inside the recording transaction."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: EventPublisher,
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
        """Record and publish the matches never emitted before, within the daily caps (all of one offer
        or all of one candidate)."""
        if not matches:
            return []
        by_offer: dict[tuple[OfferSource, str, int], list[Match]] = {}
        for match in matches:
            by_offer.setdefault((match.offer.source, match.offer.id, match.offer.version), []).append(match)
        emitted: list[Match] = []
        async with self._pool.acquire() as conn, conn.transaction():
            candidate_ids = sorted({m.candidate_id for m in matches})
            rows = await conn.fetch(
                "SELECT candidate_id, count(*) AS n FROM emitted_matches"
                " WHERE candidate_id = ANY($1::text[]) AND emitted_on = $2 GROUP BY candidate_id",
                candidate_ids,
                today,
            )
            per_candidate = {r["candidate_id"]: int(r["n"]) for r in rows}
            for (source, offer_id, version), group in sorted(by_offer.items()):
                offer_today = int(
                    await conn.fetchval(
                        "SELECT count(*) FROM emitted_matches"
                        " WHERE offer_source = $1 AND offer_id = $2 AND emitted_on = $3",
                        str(source),
                        offer_id,
                        today,
                    )
                )
                room = max(0, self._cap_offer - offer_today)
                chosen: list[Match] = []
                for match in group:
                    if len(chosen) >= room:
                        break
                    if per_candidate.get(match.candidate_id, 0) >= self._cap_candidate:
                        continue
                    chosen.append(match)
                if not chosen:
                    continue
                offer = chosen[0].offer
                inserted = await conn.fetch(
                    _INSERT,
                    str(source),
                    offer_id,
                    version,
                    str(offer.kind),
                    offer.fingerprint,
                    today,
                    [m.candidate_id for m in chosen],
                    [m.match_id for m in chosen],
                    [m.score for m in chosen],
                )
                new_ids = {r["match_id"] for r in inserted}
                for match in chosen:
                    if match.match_id in new_ids:
                        per_candidate[match.candidate_id] = per_candidate.get(match.candidate_id, 0) + 1
                        emitted.append(match)
            if emitted:
                await self._publisher.publish_many(match_found_event(m, self._source) for m in emitted)
        return emitted

    async def _withdraw(
        self, where: str, args: Sequence[object], reason: MatchWithdrawalReason, erase: bool
    ) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"UPDATE emitted_matches SET withdrawn_at = now(), withdrawal_reason = ${len(args) + 1}"
                f" WHERE {where} AND withdrawn_at IS NULL"
                " RETURNING match_id, candidate_id, offer_id, offer_kind",
                *args,
                str(reason),
            )
            if rows:
                await self._publisher.publish_many(
                    match_withdrawn_event(
                        r["match_id"],
                        r["candidate_id"],
                        r["offer_id"],
                        OfferKind(r["offer_kind"]),
                        reason,
                        self._source,
                    )
                    for r in rows
                )
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
        """Withdraw every standing match of a candidate; on erasure, forget the rows too."""
        return await self._withdraw("candidate_id = $1", (candidate_id,), reason, erase)

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

    async def standing_offers(self, candidate_id: str) -> list[tuple[OfferSource, str]]:
        """The offers a candidate has a standing match with."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT offer_source, offer_id FROM emitted_matches"
            " WHERE candidate_id = $1 AND withdrawn_at IS NULL",
            candidate_id,
        )
        return [(OfferSource(r["offer_source"]), r["offer_id"]) for r in rows]

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
