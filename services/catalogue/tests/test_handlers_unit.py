"""The application layer on fakes: what each handler decides, stores, publishes and counts."""

from __future__ import annotations

import subprocess
import sys

import pytest
from vocation_catalogue.handlers import Handlers
from vocation_catalogue.ports import RetryLater
from vocation_catalogue.testing import (
    NOW,
    FakeMetrics,
    FakeSink,
    FakeSlotFeed,
    FakeUnitsOfWork,
    days,
    fixed_clock,
    request_event,
    slot_event,
    vacancy_event,
)
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.topics import Topic
from vocation_shared.contracts.vocabulary import ImmersionRefusalReason, OfferStatus

pytestmark = pytest.mark.unit

SOURCE = "urn:vocation:catalogue"


class App:
    """The handlers on fakes, and the fakes to look at."""

    def __init__(self, slot_feed: FakeSlotFeed | None = None) -> None:
        self.units = FakeUnitsOfWork()
        self.sink = FakeSink()
        self.metrics = FakeMetrics()
        self.handlers = Handlers(
            self.units,
            self.sink,
            self.metrics,
            consumer="catalogue",
            source=SOURCE,
            clock=fixed_clock(),
            slot_feed=slot_feed,
        )

    async def book(self, capacity: int) -> None:
        """Slot `s1` offered with `capacity` places, and one booked by candidate `c1` (request `r1`)."""
        await self.handlers.on_entity(slot_event("s1", capacity=capacity, places_left=capacity))
        await self.handlers.on_booking(request_event("s1", "r1", "c1"))

    def places_left(self, slot_id: str) -> int:
        row = self.units.db.row("immersion_slots", slot_id)
        assert row is not None
        return int(row.columns["places_left"])


async def test_a_booking_publishes_the_outcome_then_the_slot_and_the_same_again_on_redelivery() -> None:
    app = App()
    await app.handlers.on_entity(slot_event("s1", capacity=1, places_left=1))
    request = request_event("s1", "r1", "c1")
    await app.handlers.on_booking(request)
    first = list(app.sink.published)
    await app.handlers.on_booking(request)
    assert [e.id for e in app.sink.published] == ["r1.outcome", "r1.slot", "r1.outcome", "r1.slot"]
    assert app.sink.published[2:] == first, "republished the same, not decided again"
    assert app.places_left("s1") == 0
    assert len(app.units.db.bookings) == 1
    assert app.units.db.locks[-3:] == ["slot:s1", "candidate:c1", "slot:s1"], (
        "slot first; a replay stops there"
    )
    assert app.metrics.counts["immersion", "booked"] == 2


async def test_a_publish_cut_short_after_the_commit_is_completed_by_the_redelivery() -> None:
    app = App()
    await app.handlers.on_entity(slot_event("s1", capacity=1, places_left=1))
    app.sink.failures = 1
    request = request_event("s1", "r1", "c1")
    with pytest.raises(ConnectionError):
        await app.handlers.on_booking(request)
    assert app.places_left("s1") == 0, "the decision is committed before publishing"
    await app.handlers.on_booking(request)  # the consumer did not commit its offset: read again
    assert [e.id for e in app.sink.published] == ["r1.outcome", "r1.slot"]
    assert isinstance(app.sink.published[0], ev.ImmersionBooked)


async def test_the_last_place_goes_to_the_first_request_and_the_next_is_refused_as_full() -> None:
    app = App()
    await app.book(1)
    await app.handlers.on_booking(request_event("s1", "r2", "c2"))
    refused = app.sink.published[-1]
    assert isinstance(refused, ev.ImmersionRefused)
    assert refused.data.reason is ImmersionRefusalReason.SLOT_FULL
    assert app.metrics.counts["immersion", "booked"] == 1
    assert app.metrics.counts["immersion", "refused"] == 1


async def test_overlapping_dates_of_one_candidate_on_two_slots_are_refused() -> None:
    app = App()
    await app.handlers.on_entity(slot_event("s1"))
    await app.handlers.on_entity(slot_event("s2"))
    await app.handlers.on_booking(request_event("s1", "r1", "c1", "2026-12-02", "2026-12-04"))
    await app.handlers.on_booking(request_event("s2", "r2", "c1", "2026-12-04", "2026-12-05"))
    refused = app.sink.published[-1]
    assert isinstance(refused, ev.ImmersionRefused)
    assert refused.data.reason is ImmersionRefusalReason.OVERLAPPING_BOOKING


async def test_a_request_for_a_slot_not_read_yet_is_retried_until_the_slots_are_read() -> None:
    feed = FakeSlotFeed()
    app = App(feed)
    with pytest.raises(RetryLater):
        await app.handlers.on_booking(request_event("s1", "r1", "c1"))
    assert app.sink.published == [], "nothing decided while the slot may be on its way"
    assert app.metrics.counts["waited",] == 1
    feed.caught_up = True
    await app.handlers.on_booking(request_event("s1", "r1", "c1"))
    refused = app.sink.published[-1]
    assert isinstance(refused, ev.ImmersionRefused)
    assert refused.data.reason is ImmersionRefusalReason.SLOT_UNKNOWN


async def test_events_the_catalogue_publishes_itself_are_not_handled_again() -> None:
    app = App()
    await app.handlers.on_entity(slot_event("s1"))
    await app.handlers.on_booking(request_event("s1", "r1", "c1"))
    for published in list(app.sink.published):
        await app.handlers.on_booking(published)
        await app.handlers.on_entity(published)
    assert len(app.sink.published) == 2
    assert app.places_left("s1") == 4


async def test_a_cancellation_gives_the_place_back_once_and_one_without_booking_publishes_nothing() -> None:
    app = App()
    await app.book(1)
    cancelled = ev.ImmersionCancelled.build(
        p.ImmersionCancelled(request_id="r1", slot_id="s1", candidate_id="c1", cancelled_by="candidate"),
        source="urn:test:partner",
    )
    await app.handlers.on_booking(cancelled)
    await app.handlers.on_booking(cancelled)
    assert [e.id for e in app.sink.published[2:]] == ["r1.cancelled.slot", "r1.cancelled.slot"]
    assert app.places_left("s1") == 1
    stranger = ev.ImmersionCancelled.build(
        p.ImmersionCancelled(request_id="r9", slot_id="s1", candidate_id="c9", cancelled_by="candidate"),
        source="urn:test:partner",
    )
    await app.handlers.on_booking(stranger)
    assert len(app.sink.published) == 4


async def test_an_erasure_frees_the_place_tombstones_the_requests_and_refuses_later_ones() -> None:
    app = App()
    await app.book(1)
    await app.handlers.erase_candidate("c1")
    assert app.sink.order[2:] == ["r1.erased.slot", "tombstone:s1/r1"]
    assert app.sink.tombstones == [(str(Topic.IMMERSION_BOOKINGS), "s1/r1")]
    assert app.places_left("s1") == 1
    assert app.units.db.outcomes["request:r1"] == ([], []), "what told of them is blanked"
    await app.handlers.on_booking(request_event("s1", "r2", "c1"))
    assert app.sink.order[-1] == "tombstone:s1/r2", "a request read after the erasure is not decided"
    assert app.metrics.counts["immersion", "erased"] == 1
    assert app.places_left("s1") == 1


async def test_an_erasure_read_again_publishes_what_it_published_the_first_time() -> None:
    app = App()
    await app.book(2)
    await app.handlers.erase_candidate("c1")
    first = app.sink.order[2:]
    await app.handlers.erase_candidate("c1")
    assert app.sink.order[2 + len(first) :] == first
    assert app.places_left("s1") == 2


async def test_a_place_of_an_immersion_already_over_is_not_given_back_on_erasure() -> None:
    app = App()
    await app.book(1)
    late = Handlers(
        app.units,
        app.sink,
        app.metrics,
        consumer="catalogue",
        source=SOURCE,
        clock=fixed_clock(NOW + days(30)),
    )
    await late.erase_candidate("c1")
    assert app.sink.order[2:] == ["tombstone:s1/r1"]
    assert app.places_left("s1") == 0


async def test_an_owners_slot_update_is_settled_against_the_bookings_and_republished() -> None:
    app = App()
    await app.book(2)
    update = ev.ImmersionSlotUpdated.build(
        slot_event("s1", capacity=2, places_left=2, version=2).data, source="urn:test:partner", id="s1-v2"
    )
    await app.handlers.on_entity(update)
    await app.handlers.on_entity(update)
    republished = app.sink.published[2:]
    assert [e.id for e in republished] == ["s1.v3", "s1.v3"], "the owner's version after the catalogue's"
    assert isinstance(republished[0], ev.ImmersionSlotUpdated)
    assert republished[0].data.places_left == 1
    assert republished[0] == republished[1]
    assert app.metrics.counts["event", ev.ImmersionSlotUpdated.TYPE, "handled"] == 2


async def test_entity_events_are_applied_once_newest_version_winning_and_counted() -> None:
    app = App()
    await app.handlers.on_entity(vacancy_event("v1", version=2, kind=ev.VacancyUpdated))
    await app.handlers.on_entity(vacancy_event("v1", version=1))
    await app.handlers.on_entity(vacancy_event("v1", version=2, kind=ev.VacancyUpdated))
    row = app.units.db.row("vacancies", "v1")
    assert row is not None and row.version == 2
    assert app.metrics.counts["event", ev.VacancyUpdated.TYPE, "applied"] == 1
    assert app.metrics.counts["event", ev.VacancyUpdated.TYPE, "skipped"] == 1
    assert app.metrics.counts["event", ev.VacancyPosted.TYPE, "skipped"] == 1


async def test_a_taken_shift_fills_its_vacancy_once() -> None:
    app = App()
    await app.handlers.on_entity(vacancy_event("v1"))
    shift = p.ShiftAccepted.model_validate({"vacancy_id": "v1", "candidate_id": "c1", "accepted_at": NOW})
    taken = ev.ShiftAccepted.build(shift, source="urn:test:partner", id="shift-1")
    await app.handlers.on_entity(taken)
    again = ev.ShiftAccepted.build(shift, source="urn:test:partner", id="shift-2")
    await app.handlers.on_entity(again)
    row = app.units.db.row("vacancies", "v1")
    assert row is not None and row.columns["status"] == OfferStatus.FILLED
    assert app.metrics.counts["event", ev.ShiftAccepted.TYPE, "applied"] == 1
    assert app.metrics.counts["event", ev.ShiftAccepted.TYPE, "skipped"] == 1


async def test_a_tombstoned_entity_is_erased() -> None:
    app = App()
    await app.handlers.on_entity(vacancy_event("v1"))
    await app.handlers.erase_entity("vacancies", "v1")
    assert app.units.db.row("vacancies", "v1") is None


def test_the_application_layer_imports_no_technology() -> None:
    probe = (
        "import sys, vocation_catalogue.handlers, vocation_catalogue.ports\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:])))"
    )
    technologies = ["aiokafka", "asyncpg", "faststream", "prometheus_client", "fastapi", "httpx"]
    found = subprocess.run(
        [sys.executable, "-c", probe, *technologies], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == "[]", f"handlers.py and ports.py depend on ports and core only, not on {found}"
