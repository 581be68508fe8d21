"""The `matches` topic's events (`MatchEvents` on Kafka): `match-found` written fast, withdrawals and tombstones.

`match-found` records are written by `encode_match_found` with orjson rather than by building and
validating the pydantic model (~25 µs per event, and a batch of offers emits thousands): byte for
byte what the validated model writes (a unit test checks it on varied matches); every value comes
from validated events (ids, title, codes) or from the core. What all the records of a call share
(time, source, an offer's fields) is prepared once. Withdrawals keep the validated models.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.topics import Topic
from vocation_shared.contracts.vocabulary import MatchWithdrawalReason, OfferKind
from vocation_shared.kafka.batches import OutgoingRecord
from vocation_shared.kafka.headers import cloudevent_headers

from vocation_matching.adapters.publishing import KafkaBatchPublisher, encode, tombstone
from vocation_matching.core.model import Match, Offer, Withdrawal

MATCHES = str(Topic.MATCHES)
_FOUND_TYPE = ev.MatchFound.TYPE


def match_found_event(match: Match, source: str, now: datetime | None = None) -> ev.MatchFound:
    """The `match-found` event of a match (validated); its id depends only on the match id."""
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


def _offer_fields(offer: Offer) -> dict[str, Any]:
    """The fields of `match-found`'s data that come from the offer, in the model's order."""
    fields: dict[str, Any] = {
        "offer_id": offer.id,
        "offer_kind": str(offer.kind),
        "offer_version": offer.version,
        "offer_title": offer.title,
        "rome_code": offer.rome,
        "commune_insee": offer.commune_insee,
    }
    if offer.establishment_name is not None:
        fields["establishment_name"] = offer.establishment_name
    return fields


def encode_match_found(matches: Sequence[Match], source: str, now: datetime) -> Iterator[OutgoingRecord]:
    """The records of `match_found_event(match, source, now)` for each match, without pydantic."""
    time = orjson.dumps(now, option=orjson.OPT_UTC_Z)[1:-1].decode()  # as orjson writes the datetime
    offer: Offer | None = None
    fields: dict[str, Any] = {}
    for match in matches:
        if match.offer is not offer:  # a batch's matches come offer by offer
            offer = match.offer
            fields = _offer_fields(offer)
        match_id = match.match_id
        event_id = f"found.{match_id}"
        candidate_id = match.candidate_id
        value = orjson.dumps(
            {
                "specversion": "1.0",
                "id": event_id,
                "source": source,
                "type": _FOUND_TYPE,
                "subject": candidate_id,
                "time": time,
                "datacontenttype": "application/json",
                "data": {
                    "match_id": match_id,
                    "candidate_id": candidate_id,
                    **fields,
                    "distance_km": round(match.distance_km, 1),
                    "score": match.score,
                    "reasons": match.reasons,
                    "close_metier": match.close_metier,
                    "urgent": match.offer.urgent,
                },
            }
        )
        yield MATCHES, candidate_id.encode(), value, cloudevent_headers(_FOUND_TYPE, event_id, source)


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


class KafkaMatchEvents:
    """`MatchEvents` on the service's batch publisher: every call's records acknowledged together."""

    def __init__(self, publisher: KafkaBatchPublisher, source: str) -> None:
        self._publisher = publisher
        self._source = source

    async def found(self, matches: Sequence[Match]) -> None:
        """The `match-found` events, timed now; returns once all are acknowledged."""
        await self._publisher.publish(encode_match_found(matches, self._source, datetime.now(UTC)))

    async def withdrawn(
        self, withdrawals: Sequence[Withdrawal], reason: MatchWithdrawalReason, *, erased: str | None = None
    ) -> None:
        """The `match-withdrawn` events then the tombstone of `erased`, in one acknowledged call."""
        records = [
            encode(
                match_withdrawn_event(
                    w.match_id, w.candidate_id, w.offer_id, w.offer_kind, reason, self._source
                )
            )
            for w in withdrawals
        ]
        if erased is not None:
            records.append(tombstone(MATCHES, erased))
        if records:
            await self._publisher.publish(records)
