"""The repositories' contract, run against the in-memory fakes and PostgreSQL alike.

The handlers' unit tests rely on the fakes behaving like the real repositories: this is where that
is checked, so that a rule written only in a fake cannot make a unit test pass.
"""

from __future__ import annotations

from datetime import date

import pytest
from vocation_catalogue.core.booking import DateRange
from vocation_catalogue.core.projection import slot_row, vacancy_row
from vocation_catalogue.ports import HeldBooking, UnitsOfWork
from vocation_catalogue.testing import (
    NOW,
    request_event,
    run_id,
    slot_event,
    slot_payload,
    vacancy_event,
)
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.topics import Topic
from vocation_shared.facts import Fact, Tombstone
from vocation_shared.testing.contract import fake_then_real

BOOKINGS_TOPIC = str(Topic.IMMERSION_BOOKINGS)


units = fake_then_real("fake_units", "postgres_units", name="units")


async def test_an_older_version_arriving_late_does_not_overwrite_the_newer(units: UnitsOfWork) -> None:
    slot = f"s-{run_id()}"
    async with units() as uow:
        assert await uow.read_models.upsert(slot_row(slot_payload(slot, version=2), NOW))
        assert not await uow.read_models.upsert(slot_row(slot_payload(slot, version=1), NOW))
        assert not await uow.read_models.upsert(slot_row(slot_payload(slot, version=2), NOW))
        assert await uow.read_models.slot_versions(slot) == (2, 0)
        assert await uow.read_models.upsert(slot_row(slot_payload(slot, version=3, places_left=4), NOW))
        stored = await uow.read_models.slot(slot)
        assert stored is not None and (stored.version, stored.places_left) == (3, 4)


async def test_the_owners_version_stays_when_the_catalogue_writes_the_next_state(units: UnitsOfWork) -> None:
    slot = f"s-{run_id()}"
    async with units() as uow:
        owned = slot_row(slot_payload(slot, version=4), NOW)
        owned.columns["partner_version"] = 4
        await uow.read_models.upsert(owned)
        await uow.read_models.upsert(slot_row(slot_payload(slot, version=5), NOW))
        assert await uow.read_models.slot_versions(slot) == (5, 4)
        assert await uow.read_models.has_slot(slot)
        assert await uow.read_models.slot(f"other-{slot}") is None
        assert await uow.read_models.slot_versions(f"other-{slot}") is None


async def test_an_open_vacancy_is_filled_once(units: UnitsOfWork) -> None:
    vacancy = f"v-{run_id()}"
    event = vacancy_event(vacancy)
    assert isinstance(event, ev.VacancyPosted)
    async with units() as uow:
        assert not await uow.read_models.fill_vacancy(vacancy, NOW), "no such vacancy"
        await uow.read_models.upsert(vacancy_row(event.data, NOW))
        assert await uow.read_models.fill_vacancy(vacancy, NOW)
        assert not await uow.read_models.fill_vacancy(vacancy, NOW), "filled already"


async def test_an_erased_row_is_gone_and_an_unknown_table_is_refused(units: UnitsOfWork) -> None:
    slot = f"s-{run_id()}"
    async with units() as uow:
        await uow.read_models.upsert(slot_row(slot_payload(slot), NOW))
        await uow.read_models.erase("immersion_slots", slot)
        assert not await uow.read_models.has_slot(slot)
        with pytest.raises(ValueError, match="unknown read-model table"):
            await uow.read_models.erase("processed_events", slot)


async def test_an_event_is_marked_processed_once_per_consumer(units: UnitsOfWork) -> None:
    event_id = f"e-{run_id()}"
    async with units() as uow:
        assert await uow.processed.mark("catalogue", "urn:test", event_id)
        assert not await uow.processed.mark("catalogue", "urn:test", event_id)
        assert await uow.processed.mark("other", "urn:test", event_id)


async def test_a_failing_unit_of_work_leaves_nothing_behind(units: UnitsOfWork) -> None:
    slot, event_id = f"s-{run_id()}", f"e-{run_id()}"

    async def fail() -> None:
        async with units() as uow:
            await uow.processed.mark("catalogue", "urn:test", event_id)
            await uow.read_models.upsert(slot_row(slot_payload(slot), NOW))
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        await fail()
    async with units() as uow:
        assert not await uow.read_models.has_slot(slot)
        assert await uow.processed.mark("catalogue", "urn:test", event_id)


async def test_bookings_are_counted_held_cancelled_and_deleted(units: UnitsOfWork) -> None:
    run = run_id()
    slot, candidate = f"s-{run}", f"c-{run}"
    first = request_event(slot, f"r1-{run}", candidate, "2026-12-02", "2026-12-04").data
    second = request_event(f"other-{slot}", f"r2-{run}", candidate, "2026-12-08", "2026-12-09").data
    async with units() as uow:
        await uow.bookings.lock_slot(slot)
        await uow.bookings.lock_candidate(candidate)
        await uow.bookings.add(first, NOW)
        await uow.bookings.add(second, NOW)
        assert await uow.bookings.booked_on(slot) == 1
        assert sorted(await uow.bookings.held_dates(candidate), key=lambda d: d.start) == [
            DateRange(date(2026, 12, 2), date(2026, 12, 4)),
            DateRange(date(2026, 12, 8), date(2026, 12, 9)),
        ]
        assert await uow.bookings.holder(first.request_id, slot) == (candidate, True)
        assert await uow.bookings.holder(first.request_id, f"other-{slot}") is None
        await uow.bookings.cancel(first.request_id, NOW)
        assert await uow.bookings.booked_on(slot) == 0
        assert await uow.bookings.holder(first.request_id, slot) == (candidate, False)
        assert await uow.bookings.slots_of(candidate) == sorted([slot, f"other-{slot}"])
        deleted = await uow.bookings.delete_of(candidate)
        assert sorted(deleted, key=lambda h: h.request_id) == [
            HeldBooking(first.request_id, slot, False, date(2026, 12, 4)),
            HeldBooking(second.request_id, f"other-{slot}", True, date(2026, 12, 9)),
        ]
        assert await uow.bookings.slots_of(candidate) == []


async def test_outcomes_keep_events_then_tombstones_and_an_erasure_blanks_the_candidates(
    units: UnitsOfWork,
) -> None:
    run = run_id()
    slot, candidate = f"s-{run}", f"c-{run}"
    theirs = request_event(slot, f"r-{run}", candidate)
    other = slot_event(slot)
    gone = Tombstone(BOOKINGS_TOPIC, f"{slot}/x-{run}")
    async with units() as uow:
        assert await uow.outcomes.earlier(f"request:r-{run}") is None
        await uow.outcomes.keep(f"request:r-{run}", [gone, theirs])
        await uow.outcomes.keep(f"slot-event:{run}", [other])
        kept = await uow.outcomes.earlier(f"request:r-{run}")
        assert kept is not None and [_id(f) for f in kept] == [theirs.id, gone.key]
        assert kept[0] == theirs
        assert await uow.outcomes.blank_candidate(candidate) == {(slot, f"r-{run}")}
        assert [_id(f) for f in await uow.outcomes.earlier(f"request:r-{run}") or []] == [gone.key]
        assert [_id(f) for f in await uow.outcomes.earlier(f"slot-event:{run}") or []] == [other.id]
        await uow.outcomes.replace(f"erasure:{run}", [gone])
        await uow.outcomes.replace(f"erasure:{run}", [other, gone, gone])
        assert [_id(f) for f in await uow.outcomes.earlier(f"erasure:{run}") or []] == [other.id, gone.key]


async def test_an_erased_candidate_is_remembered(units: UnitsOfWork) -> None:
    pseudonym = f"ps1_{run_id()}"
    async with units() as uow:
        assert not await uow.erasures.erased(pseudonym)
        await uow.erasures.remember(pseudonym)
        await uow.erasures.remember(pseudonym)
        assert await uow.erasures.erased(pseudonym)


def _id(fact: Fact) -> str:
    return fact.key if isinstance(fact, Tombstone) else fact.id
