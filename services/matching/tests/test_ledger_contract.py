"""The ledger's contract, run against the in-memory fake and PostgreSQL alike.

The handlers' unit tests rely on `FakeLedger` behaving like `PostgresLedger`: this is where that is
checked, through the ports only (`UnitsOfWork`, `Ledger`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta

import pytest
from vocation_matching.adapters.postgres.ledger import Caps
from vocation_matching.adapters.postgres.unit_of_work import PostgresUnitsOfWork
from vocation_matching.app import MIGRATIONS
from vocation_matching.core.model import Match, Offer, OfferSource, Withdrawal
from vocation_matching.ports import UnitsOfWork
from vocation_matching.testing import TODAY, FakeUnitsOfWork, immersion, vacancy
from vocation_shared.contracts.vocabulary import MatchWithdrawalReason, OfferKind
from vocation_shared.postgres import create_pool
from vocation_shared.testing.contract import fake_then_real

CAP_OFFER, CAP_CANDIDATE = 3, 2
CLOSED = MatchWithdrawalReason.OFFER_CLOSED


@pytest.fixture
def fake_units() -> UnitsOfWork:
    """The in-memory fake."""
    return FakeUnitsOfWork(cap_per_offer=CAP_OFFER, cap_per_candidate=CAP_CANDIDATE)


@pytest.fixture
async def postgres_units(fresh_database: str) -> AsyncIterator[UnitsOfWork]:
    """The PostgreSQL ledger on a fresh database with the service's migrations."""
    async with create_pool(fresh_database, migrations=[("matching", MIGRATIONS)], max_size=4) as pool:
        yield PostgresUnitsOfWork(pool, Caps(CAP_OFFER, CAP_CANDIDATE))


units = fake_then_real("fake_units", "postgres_units", name="units")


def _match(offer: Offer, candidate: str, score: int = 70) -> Match:
    return Match(candidate, offer, score, 12.0, False, ("À 12 km de chez vous", "CDI à temps plein"))


async def _record(units: UnitsOfWork, matches: list[Match], day: date = TODAY) -> list[str]:
    async with units() as uow:
        return [m.match_id for m in await uow.ledger.record(matches, day)]


async def test_a_match_is_recorded_once_the_first_of_its_key_in_order(units: UnitsOfWork) -> None:
    offer = vacancy(id="v1")
    first = [_match(offer, "c1"), _match(offer, "c2"), _match(offer, "c1", score=99)]
    assert await _record(units, first) == ["vac.v1.v1.c1", "vac.v1.v1.c2"]
    assert await _record(units, [_match(offer, "c2"), _match(offer, "c3")]) == ["vac.v1.v1.c3"]


async def test_a_new_version_with_the_same_material_content_is_not_a_new_match(units: UnitsOfWork) -> None:
    v1 = vacancy(id="v1", fingerprint="same")
    await _record(units, [_match(v1, "c1")])
    assert await _record(units, [_match(replace(v1, version=2), "c1")]) == []
    changed = replace(v1, version=3, fingerprint="other")
    assert await _record(units, [_match(changed, "c1")]) == ["vac.v1.v3.c1"]


async def test_a_withdrawn_match_no_longer_blocks_the_same_content(units: UnitsOfWork) -> None:
    v1 = vacancy(id="v1", fingerprint="same")
    await _record(units, [_match(v1, "c1")])
    async with units() as uow:
        await uow.ledger.withdraw_offer(OfferSource.VACANCY, "v1", CLOSED)
    assert await _record(units, [_match(replace(v1, version=2), "c1")]) == ["vac.v1.v2.c1"]


async def test_the_daily_caps_keep_the_first_matches_and_a_new_day_starts_again(units: UnitsOfWork) -> None:
    a, b = vacancy(id="va"), vacancy(id="vb")
    recorded = await _record(
        units,
        [
            _match(a, "c1"),
            _match(a, "c2"),
            _match(a, "c3"),
            _match(a, "c4"),
            _match(b, "c1"),
            _match(b, "c1"),
        ],
    )
    assert recorded == ["vac.va.v1.c1", "vac.va.v1.c2", "vac.va.v1.c3", "vac.vb.v1.c1"]  # offer cap 3
    assert await _record(units, [_match(vacancy(id="vc"), "c1")]) == []  # candidate cap 2
    assert await _record(units, [_match(vacancy(id="vc"), "c1")], TODAY + timedelta(days=1)) == [
        "vac.vc.v1.c1"
    ]


async def test_ids_are_unique_per_source_only(units: UnitsOfWork) -> None:
    same_id = [_match(vacancy(id="x"), "c1"), _match(immersion(id="x"), "c1")]
    assert await _record(units, same_id) == ["vac.x.v1.c1", "imm.x.v1.c1"]


async def test_withdrawals_return_what_they_withdrew_once(units: UnitsOfWork) -> None:
    a, b = vacancy(id="va"), immersion(id="ib")
    await _record(units, [_match(a, "c1"), _match(a, "c2"), _match(b, "c1")])
    async with units() as uow:
        by_pairs = await uow.ledger.withdraw_pairs(OfferSource.VACANCY, "va", ["c2", "c9"], CLOSED)
        by_candidate_pairs = await uow.ledger.withdraw_candidate_pairs(
            "c1", [(OfferSource.IMMERSION, "ib")], MatchWithdrawalReason.CANDIDATE_CHANGED
        )
        by_offer = await uow.ledger.withdraw_offer(OfferSource.VACANCY, "va", CLOSED)
        again = await uow.ledger.withdraw_candidate("c1", MatchWithdrawalReason.CANDIDATE_WITHDRAWN)
    assert by_pairs == [Withdrawal("vac.va.v1.c2", "c2", "va", OfferKind.VACANCY)]
    assert by_candidate_pairs == [Withdrawal("imm.ib.v1.c1", "c1", "ib", OfferKind.IMMERSION)]
    assert by_offer == [Withdrawal("vac.va.v1.c1", "c1", "va", OfferKind.VACANCY)]
    assert again == []


async def test_standing_matches_are_read_back(units: UnitsOfWork) -> None:
    v1 = vacancy(id="va")
    await _record(units, [_match(v1, "c1"), _match(v1, "c2"), _match(immersion(id="ib"), "c1")])
    async with units() as uow:
        await uow.ledger.withdraw_pairs(OfferSource.VACANCY, "va", ["c2"], CLOSED)
        standing = await uow.ledger.standing_candidates(OfferSource.VACANCY, "va", 2)
        older_only = await uow.ledger.standing_candidates(OfferSource.VACANCY, "va", 1)
        offers = await uow.ledger.standing_offers_of(["c1", "c2", "c9"])
    assert standing == ["c1"]
    assert older_only == []
    assert {c: sorted(o) for c, o in offers.items()} == {
        "c1": [(OfferSource.IMMERSION, "ib"), (OfferSource.VACANCY, "va")]
    }


async def test_a_forgotten_candidate_leaves_no_row_and_may_be_matched_again(units: UnitsOfWork) -> None:
    v1 = vacancy(id="va")
    await _record(units, [_match(v1, "c1")])
    async with units() as uow:
        await uow.ledger.withdraw_candidate("c1", MatchWithdrawalReason.CANDIDATE_WITHDRAWN)
        await uow.ledger.forget_candidate("c1")
    async with units() as uow:
        assert await uow.ledger.standing_offers_of(["c1"]) == {}
    assert await _record(units, [_match(v1, "c1")], TODAY + timedelta(days=1)) == ["vac.va.v1.c1"]


async def test_a_unit_of_work_that_raises_records_nothing(units: UnitsOfWork) -> None:
    offer = vacancy(id="va")

    async def record_then_fail() -> None:
        async with units() as uow:
            assert len(await uow.ledger.record([_match(offer, "c1")], TODAY)) == 1
            raise RuntimeError("the publication failed")

    with pytest.raises(RuntimeError):
        await record_then_fail()
    assert await _record(units, [_match(offer, "c1")]) == ["vac.va.v1.c1"]


# --- what was learned: refusals and hires ---------------------------------------------------------


async def test_the_first_refusal_of_a_pair_is_kept_and_a_replay_changes_nothing(units: UnitsOfWork) -> None:
    from vocation_matching.core.learning import Lesson
    from vocation_shared.contracts.vocabulary import ContractType, MatchDeclineReason

    key = (OfferSource.VACANCY, "v1")
    first = Lesson(key, MatchDeclineReason.TOO_FAR, "b1", distance_km=21.5)
    other = Lesson(
        key, MatchDeclineReason.METIER, "b2", excluded_close=frozenset({"J1304"}), contract=ContractType.CDD
    )
    async with units() as uow:
        assert await uow.learning.record_decline("e1", "c1", first) == first
        assert await uow.learning.record_decline("e2", "c1", other) == first
        assert await uow.learning.record_decline("e1", "c2", other) == other  # the event was seen: not kept
    async with units() as uow:
        learned = await uow.learning.since(None)
    assert learned.declines == [("c1", first)]


async def test_a_hire_is_counted_once_per_application_and_outlives_the_candidate_s_refusals(
    units: UnitsOfWork,
) -> None:
    from vocation_matching.core.learning import Lesson

    async with units() as uow:
        assert await uow.learning.record_hire("e1", "app-1", "v1")
        assert not await uow.learning.record_hire("e2", "app-1", "v1")
        assert await uow.learning.record_hire("e3", "app-2", "v1")
        await uow.learning.record_decline("e4", "c1", Lesson((OfferSource.VACANCY, "v2"), None))
        await uow.learning.record_decline("e5", "c2", Lesson((OfferSource.VACANCY, "v2"), None))
    async with units() as uow:
        await uow.learning.forget_candidate("c1")
    async with units() as uow:
        learned = await uow.learning.since(None)
    assert sorted(learned.hires) == [("v1", "app-1"), ("v1", "app-2")]
    assert [candidate for candidate, _ in learned.declines] == ["c2"]
    async with units() as uow:
        again = await uow.learning.since(learned.read_at)
    assert sorted(again.hires) == sorted(learned.hires)  # recorded within the re-read margin
