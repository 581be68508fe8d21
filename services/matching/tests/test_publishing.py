"""The fast encoding of match-found events writes exactly what the validated contract model writes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from vocation_matching.adapters.match_events import encode_match_found, match_found_event
from vocation_matching.adapters.publishing import encode
from vocation_matching.core.model import Match, Offer
from vocation_matching.testing import immersion, training, vacancy
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.codec import parse_event
from vocation_shared.contracts.vocabulary import ContractType

pytestmark = pytest.mark.unit
SOURCE = "urn:vocation:matching"


def _match(offer: Offer, **overrides: object) -> Match:
    base = Match(
        candidate_id="cand-000123",
        offer=offer,
        score=77,
        distance_km=12.345,
        close_metier=False,
        reasons=("À 12 km de chez vous", "Logement proposé", "CDI à temps plein"),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


MATCHES = [
    _match(vacancy()),
    _match(vacancy(establishment_name=None), close_metier=True, score=100, distance_km=0.0),
    _match(vacancy(title="Infirmier·e « de nuit » — 35 h", version=12), distance_km=149.95),
    _match(immersion(), reasons=("Immersion à 3 km",), score=0, distance_km=3.0),
    _match(training(), candidate_id="c" * 120),  # long ids: the match id becomes a digest
    _match(vacancy(id="v-" + "9" * 100), candidate_id="Cand_x.y:z-9"),
    _match(vacancy(urgent=True, contract_type=ContractType.REMPLACEMENT)),  # an urgent replacement shift
]
SHARED = vacancy(id="vac-shared", establishment_name=None)
MATCHES += [_match(SHARED, candidate_id="cand-a"), _match(SHARED, candidate_id="cand-b", score=41)]
TIMES = [
    datetime(2026, 11, 22, 7, 30, 1, 123456, tzinfo=UTC),
    datetime(2026, 11, 22, 7, 30, tzinfo=UTC),
    datetime(2026, 11, 22, 8, 30, 1, 5, tzinfo=timezone(timedelta(hours=1))).astimezone(UTC),
]


@pytest.mark.parametrize("now", TIMES, ids=range(len(TIMES)))
def test_fast_encoding_is_byte_for_byte_the_validated_event(now: datetime) -> None:
    # In one call, as the service writes a batch: what is prepared once (time, source, an offer's
    # fields) must not leak from one record into the next.
    fast = list(encode_match_found([*MATCHES, *reversed(MATCHES)], SOURCE, now))
    for match, record in zip([*MATCHES, *reversed(MATCHES)], fast, strict=True):
        assert record == encode(match_found_event(match, SOURCE, now))
        assert record[2] is not None
        event = parse_event(record[2])
        assert isinstance(event, ev.MatchFound)
        assert event.id == f"found.{match.match_id}"
