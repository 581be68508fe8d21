"""The fast encoding of match-found events writes exactly what the validated contract model writes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from vocation_matching.adapters.ledger import encode_match_found, match_found_event
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
TIMES = [
    datetime(2026, 11, 22, 7, 30, 1, 123456, tzinfo=UTC),
    datetime(2026, 11, 22, 7, 30, tzinfo=UTC),
    datetime(2026, 11, 22, 8, 30, 1, 5, tzinfo=timezone(timedelta(hours=1))).astimezone(UTC),
]


@pytest.mark.parametrize("match", MATCHES, ids=range(len(MATCHES)))
@pytest.mark.parametrize("now", TIMES, ids=range(len(TIMES)))
def test_fast_encoding_is_byte_for_byte_the_validated_event(match: Match, now: datetime) -> None:
    expected = encode(match_found_event(match, SOURCE, now))
    fast = encode_match_found(match, SOURCE, now)
    assert fast == expected
    event = parse_event(fast.value)
    assert isinstance(event, ev.MatchFound)
    assert event.id == f"found.{match.match_id}"
