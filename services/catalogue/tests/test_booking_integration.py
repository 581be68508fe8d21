"""Against the real database: immersion bookings never exceed capacity, replays change nothing."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from vocation_catalogue.adapters.postgres.erasures import pseudonymize_ledgers
from vocation_catalogue.app import open_pool
from vocation_catalogue.handlers import Handlers
from vocation_catalogue.settings import CatalogueSettings
from vocation_catalogue.testing import (
    NOW,
    FakeSink,
    request_event,
    run_id,
    slot_event,
    slot_payload,
)
from vocation_catalogue.testing.harness import SOURCE, postgres_handlers
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.vocabulary import ImmersionRefusalReason, OfferStatus
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY, Pseudonymizer

pytestmark = pytest.mark.integration


def _handlers(pool: asyncpg.Pool, sink: FakeSink) -> Handlers:
    return postgres_handlers(pool, sink)


async def _slot(pool: asyncpg.Pool, slot_id: str) -> p.ImmersionSlot:
    data = await pool.fetchval("SELECT data FROM immersion_slots WHERE id = $1", slot_id)
    return p.ImmersionSlot.model_validate(data)


def _outcomes(published: list[AnyEvent]) -> dict[str, AnyEvent]:
    return {
        e.data.request_id: e for e in published if isinstance(e, ev.ImmersionBooked | ev.ImmersionRefused)
    }


async def test_hundred_concurrent_requests_for_five_places_book_exactly_five_and_replays_change_nothing(
    pool: asyncpg.Pool, fresh_database: str
) -> None:
    run = run_id()
    sink = FakeSink()
    # Two catalogue instances (each its own pool) handle the requests at the same time, as
    # during a rebalance when both believe they own the slot's partition.
    async with open_pool(CatalogueSettings(database_url=fresh_database, database_pool_size=10)) as other_pool:
        instances = [_handlers(pool, sink), _handlers(other_pool, sink)]
        slot_id = f"slot-{run}"
        await instances[0].on_entity(slot_event(slot_id, capacity=5, places_left=5))
        requests = [request_event(slot_id, f"req-{run}-{n}", f"cand-{run}-{n}") for n in range(100)]

        await asyncio.gather(*(instances[n % 2].on_booking(r) for n, r in enumerate(requests)))

        first = _outcomes(sink.published)
        booked = [e for e in first.values() if isinstance(e, ev.ImmersionBooked)]
        refused = [e for e in first.values() if isinstance(e, ev.ImmersionRefused)]
        assert len(booked) == 5
        assert len(refused) == 95
        assert {e.data.reason for e in refused} == {ImmersionRefusalReason.SLOT_FULL}
        assert sorted(e.data.places_left for e in booked) == [0, 1, 2, 3, 4]
        slot = await _slot(pool, slot_id)
        assert (slot.places_left, slot.version, slot.status) == (0, 6, OfferStatus.FILLED)
        slot_updates = [e for e in sink.published if isinstance(e, ev.ImmersionSlotUpdated)]
        assert sorted(e.data.version for e in slot_updates) == [2, 3, 4, 5, 6]

        replay = FakeSink()
        replaying = [_handlers(pool, replay), _handlers(other_pool, replay)]
        await asyncio.gather(*(replaying[(n + 1) % 2].on_booking(r) for n, r in enumerate(requests)))

    again = _outcomes(replay.published)
    assert {k: v.to_json_dict() for k, v in again.items()} == {k: v.to_json_dict() for k, v in first.items()}
    assert sorted(e.id for e in replay.published) == sorted(e.id for e in sink.published)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM immersion_bookings WHERE slot_id = $1 AND status = 'booked'", slot_id
        )
        == 5
    )
    assert (await _slot(pool, slot_id)).version == 6


async def test_request_redelivered_after_crash_republishes_the_stored_outcome(pool: asyncpg.Pool) -> None:
    run = run_id()
    sink = FakeSink()
    handlers = _handlers(pool, sink)
    slot_id = f"slot-{run}"
    await handlers.on_entity(slot_event(slot_id, capacity=1, places_left=1))
    request = request_event(slot_id, f"req-{run}", f"cand-{run}")
    await handlers.on_booking(request)
    # Same request id in a new event (a partner retrying): same outcome, not a second decision.
    retry = ev.ImmersionRequested.build(request.data, source="urn:test:partner", id=f"retry-{run}", time=NOW)
    await handlers.on_booking(retry)
    outcomes = [e for e in sink.published if isinstance(e, ev.ImmersionBooked | ev.ImmersionRefused)]
    assert [type(e) for e in outcomes] == [ev.ImmersionBooked, ev.ImmersionBooked]
    assert outcomes[0].to_json_dict() == outcomes[1].to_json_dict()
    assert outcomes[0].id == f"req-{run}.outcome"
    assert outcomes[0].source == SOURCE


async def test_erasure_read_again_after_a_crash_republishes_the_freed_place(pool: asyncpg.Pool) -> None:
    run = run_id()
    handlers = _handlers(pool, FakeSink())
    slot_id, candidate = f"slot-{run}", f"cand-{run}"
    await handlers.on_entity(slot_event(slot_id, capacity=2, places_left=2))
    await handlers.on_booking(request_event(slot_id, f"req-{run}", candidate))
    first, again = FakeSink(), FakeSink()
    # The erasure is applied and committed, then the process dies before its publish: the
    # withdrawal (or the tombstone) is read again, and the freed place must still be told.
    await _handlers(pool, first).erase_candidate(candidate)
    await _handlers(pool, again).erase_candidate(candidate)
    freed = [e for e in first.published if isinstance(e, ev.ImmersionSlotUpdated)]
    assert [e.data.places_left for e in freed] == [2]
    assert [e.to_json_dict() for e in again.published] == [e.to_json_dict() for e in freed]
    assert (await _slot(pool, slot_id)).places_left == 2


async def test_erasure_tombstones_every_request_of_the_candidate_and_keeps_only_their_pseudonym(
    pool: asyncpg.Pool,
) -> None:
    run = run_id()
    handlers = _handlers(pool, FakeSink())
    slot_id, candidate = f"slot-{run}", f"cand-{run}"
    await handlers.on_entity(slot_event(slot_id, capacity=1, places_left=1))
    await handlers.on_booking(request_event(slot_id, f"req-{run}-1", candidate))  # booked
    await handlers.on_booking(request_event(f"nowhere-{run}", f"req-{run}-2", candidate))  # refused
    await handlers.on_booking(request_event(slot_id, f"req-{run}-3", f"other-{run}"))  # someone else's
    first, again = FakeSink(), FakeSink()
    await _handlers(pool, first).erase_candidate(candidate)
    await _handlers(pool, again).erase_candidate(candidate)  # read again after a crash

    expected = [
        ("immersion-bookings", f"nowhere-{run}/req-{run}-2"),
        ("immersion-bookings", f"{slot_id}/req-{run}-1"),
    ]
    assert sorted(first.tombstones) == expected
    assert sorted(again.tombstones) == expected
    pseudonym = Pseudonymizer(DEVELOPMENT_PSEUDONYM_KEY).candidate(candidate)
    assert await pool.fetchval(
        "SELECT count(*) FROM erased_candidates WHERE candidate_pseudonym = $1", pseudonym
    )
    left = await pool.fetchval(
        "SELECT count(*) FROM (SELECT r::text FROM erased_candidates r UNION ALL "
        "SELECT r::text FROM immersion_outcomes r) AS t(row) WHERE row LIKE $1",
        f"%{candidate}%",
    )
    assert left == 0


async def test_a_request_or_cancellation_of_an_erased_candidate_read_later_is_tombstoned(
    pool: asyncpg.Pool,
) -> None:
    run = run_id()
    sink = FakeSink()
    handlers = _handlers(pool, sink)
    slot_id, candidate = f"slot-{run}", f"cand-{run}"
    await handlers.on_entity(slot_event(slot_id, capacity=2, places_left=2))
    await handlers.erase_candidate(candidate)
    late = request_event(slot_id, f"req-{run}", candidate)
    await handlers.on_booking(late)
    await handlers.on_booking(late)  # redelivered: the same tombstone again
    cancel = ev.ImmersionCancelled.build(
        p.ImmersionCancelled(
            request_id=f"req-{run}-x", slot_id=slot_id, candidate_id=candidate, cancelled_by="candidate"
        ),
        source="urn:test:partner",
        id=f"cancel-{run}",
        time=NOW,
    )
    await handlers.on_booking(cancel)
    assert not [e for e in sink.published if isinstance(e, ev.ImmersionBooked | ev.ImmersionRefused)]
    assert sink.tombstones == [
        ("immersion-bookings", f"{slot_id}/req-{run}"),
        ("immersion-bookings", f"{slot_id}/req-{run}"),
        ("immersion-bookings", f"{slot_id}/req-{run}-x"),
    ]
    assert (await _slot(pool, slot_id)).places_left == 2


async def test_ledger_rows_written_before_pseudonyms_are_rewritten_at_start(pool: asyncpg.Pool) -> None:
    run = run_id()
    legacy = f"cand-{run}-legacy"
    await pool.execute("INSERT INTO erased_candidates (candidate_pseudonym) VALUES ($1)", legacy)
    await pool.execute(
        "INSERT INTO immersion_outcomes (key, events) VALUES ($1, '[]'::jsonb)", f"erasure:{legacy}"
    )
    pseudonyms = Pseudonymizer(DEVELOPMENT_PSEUDONYM_KEY)
    assert await pseudonymize_ledgers(pool, pseudonyms) >= 2
    assert await pseudonymize_ledgers(pool, pseudonyms) == 0
    pseudonym = pseudonyms.candidate(legacy)
    assert await pool.fetchval(
        "SELECT count(*) FROM erased_candidates WHERE candidate_pseudonym = $1", pseudonym
    )
    assert await pool.fetchval(
        "SELECT count(*) FROM immersion_outcomes WHERE key = $1", f"erasure:{pseudonym}"
    )
    # Still erased: a request of theirs read now is not decided.
    sink = FakeSink()
    await _handlers(pool, sink).on_booking(request_event(f"slot-{run}", f"req-{run}", legacy))
    assert sink.published == [] and len(sink.tombstones) == 1


async def test_cancellation_gives_the_place_back_once(pool: asyncpg.Pool) -> None:
    run = run_id()
    sink = FakeSink()
    handlers = _handlers(pool, sink)
    slot_id = f"slot-{run}"
    await handlers.on_entity(slot_event(slot_id, capacity=1, places_left=1))
    first = request_event(slot_id, f"req-{run}-1", f"cand-{run}-1")
    await handlers.on_booking(first)
    cancel = ev.ImmersionCancelled.build(
        p.ImmersionCancelled(
            request_id=first.data.request_id,
            slot_id=slot_id,
            candidate_id=first.data.candidate_id,
            cancelled_by="candidate",
        ),
        source="urn:test:partner",
        id=f"cancel-{run}",
        time=NOW,
    )
    await handlers.on_booking(cancel)
    await handlers.on_booking(cancel)
    slot = await _slot(pool, slot_id)
    assert (slot.places_left, slot.status, slot.version) == (1, OfferStatus.OPEN, 3)
    freed = [e for e in sink.published if e.id == f"req-{run}-1.cancelled.slot"]
    assert len(freed) == 2 and freed[0].to_json_dict() == freed[1].to_json_dict()

    second = request_event(slot_id, f"req-{run}-2", f"cand-{run}-2")
    await handlers.on_booking(second)
    assert isinstance(_outcomes(sink.published)[f"req-{run}-2"], ev.ImmersionBooked)


@pytest.mark.parametrize(
    ("slot_fields", "dates", "reason"),
    [
        ({"status": "closed"}, ("2026-12-02", "2026-12-03"), ImmersionRefusalReason.SLOT_CLOSED),
        (
            {"start_date": "2026-11-02", "end_date": "2026-11-13"},
            ("2026-11-03", "2026-11-04"),
            ImmersionRefusalReason.SLOT_PAST,
        ),
        ({}, ("2026-11-30", "2026-12-02"), ImmersionRefusalReason.DATES_OUTSIDE_SLOT),
        ({}, ("2026-12-10", "2026-12-14"), ImmersionRefusalReason.DATES_OUTSIDE_SLOT),
    ],
)
async def test_request_the_slot_cannot_take_is_refused_with_its_reason(
    pool: asyncpg.Pool, slot_fields: dict[str, str], dates: tuple[str, str], reason: ImmersionRefusalReason
) -> None:
    run = run_id()
    sink = FakeSink()
    handlers = _handlers(pool, sink)
    slot_id = f"slot-{run}"
    await handlers.on_entity(slot_event(slot_id, **slot_fields))
    await handlers.on_booking(request_event(slot_id, f"req-{run}", f"cand-{run}", *dates))
    [outcome] = sink.published
    assert isinstance(outcome, ev.ImmersionRefused)
    assert outcome.data.reason == reason
    assert (await _slot(pool, slot_id)).places_left == 5


async def test_candidate_already_booked_on_overlapping_dates_elsewhere_is_refused(pool: asyncpg.Pool) -> None:
    run = run_id()
    sink = FakeSink()
    handlers = _handlers(pool, sink)
    await handlers.on_entity(slot_event(f"slot-{run}-a"))
    await handlers.on_entity(slot_event(f"slot-{run}-b"))
    candidate = f"cand-{run}"
    await handlers.on_booking(
        request_event(f"slot-{run}-a", f"req-{run}-1", candidate, "2026-12-02", "2026-12-04")
    )
    await handlers.on_booking(
        request_event(f"slot-{run}-b", f"req-{run}-2", candidate, "2026-12-04", "2026-12-05")
    )
    await handlers.on_booking(
        request_event(f"slot-{run}-b", f"req-{run}-3", candidate, "2026-12-05", "2026-12-06")
    )
    outcomes = _outcomes(sink.published)
    assert isinstance(outcomes[f"req-{run}-1"], ev.ImmersionBooked)
    refused = outcomes[f"req-{run}-2"]
    assert isinstance(refused, ev.ImmersionRefused)
    assert refused.data.reason is ImmersionRefusalReason.OVERLAPPING_BOOKING
    assert "déjà une immersion" in refused.data.message
    assert isinstance(outcomes[f"req-{run}-3"], ev.ImmersionBooked)


async def test_request_for_an_unknown_slot_is_refused_and_changes_no_slot(pool: asyncpg.Pool) -> None:
    run = run_id()
    sink = FakeSink()
    await _handlers(pool, sink).on_booking(request_event(f"nowhere-{run}", f"req-{run}", f"cand-{run}"))
    [outcome] = sink.published
    assert isinstance(outcome, ev.ImmersionRefused)
    assert outcome.data.reason is ImmersionRefusalReason.SLOT_UNKNOWN
    assert outcome.data.message == "Ce créneau d'immersion n'existe pas ou n'est plus proposé."


async def test_owner_slot_update_cannot_give_back_places_the_catalogue_booked(pool: asyncpg.Pool) -> None:
    run = run_id()
    sink = FakeSink()
    handlers = _handlers(pool, sink)
    slot_id = f"slot-{run}"
    await handlers.on_entity(slot_event(slot_id, capacity=3, places_left=3))
    for n in range(2):
        await handlers.on_booking(request_event(slot_id, f"req-{run}-{n}", f"cand-{run}-{n}"))
    # The host edits the title on top of the last published state but still says 3 places left.
    stale_places = ev.ImmersionSlotUpdated.build(
        (await _slot(pool, slot_id)).model_copy(
            update={"title": "Nouveau titre", "places_left": 3, "version": 4}
        ),
        source="urn:test:partner",
        id=f"edit-{run}",
        time=NOW,
    )
    await handlers.on_entity(stale_places)
    slot = await _slot(pool, slot_id)
    assert (slot.title, slot.places_left, slot.version) == ("Nouveau titre", 1, 5)
    corrected = sink.published[-1]
    assert isinstance(corrected, ev.ImmersionSlotUpdated)
    assert (corrected.data.places_left, corrected.data.version, corrected.source) == (1, 5, SOURCE)


async def test_owner_closing_a_slot_on_an_older_version_still_closes_it_and_tells_everyone(
    pool: asyncpg.Pool,
) -> None:
    run = run_id()
    sink = FakeSink()
    handlers = _handlers(pool, sink)
    slot_id = f"slot-{run}"
    offered = slot_payload(slot_id)
    await handlers.on_entity(slot_event(slot_id))
    for n in range(2):
        await handlers.on_booking(request_event(slot_id, f"req-{run}-{n}", f"cand-{run}-{n}"))
    # The host never read the catalogue's versions 2 and 3: it closes its version 1 as version 2.
    closing = ev.ImmersionSlotClosed.build(
        offered.model_copy(update={"status": OfferStatus.CLOSED, "version": 2}),
        source="urn:test:partner",
        id=f"close-{run}",
        time=NOW,
    )
    await handlers.on_entity(closing)
    await handlers.on_entity(closing)
    slot = await _slot(pool, slot_id)
    assert (slot.status, slot.version, slot.places_left) == (OfferStatus.CLOSED, 4, 3)
    told = [e for e in sink.published if e.id == f"{slot_id}.v4"]
    assert len(told) == 2 and told[0].to_json_dict() == told[1].to_json_dict()
    # An older owner event arriving late changes nothing.
    await handlers.on_entity(slot_event(slot_id))
    assert (await _slot(pool, slot_id)).status is OfferStatus.CLOSED
    await handlers.on_booking(request_event(slot_id, f"req-{run}-late", f"cand-{run}-late"))
    late = _outcomes(sink.published)[f"req-{run}-late"]
    assert isinstance(late, ev.ImmersionRefused)
    assert late.data.reason is ImmersionRefusalReason.SLOT_CLOSED


async def test_catalogue_ignores_its_own_slot_states_coming_back(pool: asyncpg.Pool) -> None:
    run = run_id()
    sink = FakeSink()
    handlers = _handlers(pool, sink)
    slot_id = f"slot-{run}"
    await handlers.on_entity(slot_event(slot_id, capacity=2, places_left=2))
    await handlers.on_booking(request_event(slot_id, f"req-{run}", f"cand-{run}"))
    for echoed in list(sink.published):
        await handlers.on_entity(echoed)
    slot = await _slot(pool, slot_id)
    assert (slot.places_left, slot.version) == (1, 2)
