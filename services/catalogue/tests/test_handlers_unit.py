"""The Kafka handlers with fake stores: what they apply, and what they publish in which order."""

from __future__ import annotations

import pytest
from vocation_catalogue.adapters.kafka import CatalogueHandlers
from vocation_catalogue.core import booking
from vocation_catalogue.testing import (
    NOW,
    TODAY,
    FakeReadModels,
    RecordingSink,
    request_event,
    slot_event,
    slot_payload,
    vacancy_event,
)
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.kafka import TransientError

pytestmark = pytest.mark.unit


class FakeSlotFeed:
    """The slots' consumer is behind until `caught_up` is set."""

    def __init__(self) -> None:
        self.caught_up = False

    async def behind(self, slot_id: str, request_id: str) -> bool:
        """Behind until told otherwise."""
        return not self.caught_up


class FakeBookings:
    """Decides with the core against one in-memory slot, keeping outcomes by request id."""

    def __init__(self) -> None:
        self.slot = slot_payload("s1", capacity=1, places_left=1)
        self.outcomes: dict[str, list[AnyEvent]] = {}

    async def request(self, event: ev.ImmersionRequested) -> list[AnyEvent]:
        """Decide once per request id."""
        request = event.data
        if request.request_id not in self.outcomes:
            decision = booking.decide(request, self.slot, [], TODAY)
            if isinstance(decision, booking.Booked):
                self.slot = decision.slot
            self.outcomes[request.request_id] = booking.outcome_events(
                request, decision, None, source="urn:vocation:catalogue", now=NOW
            )
        return self.outcomes[request.request_id]

    async def cancel(self, event: ev.ImmersionCancelled) -> list[AnyEvent]:
        """Nothing to give back here."""
        return []


def _handlers() -> tuple[CatalogueHandlers, FakeReadModels, RecordingSink]:
    read_models, sink = FakeReadModels(), RecordingSink()
    return CatalogueHandlers(read_models, FakeBookings(), sink), read_models, sink


async def test_booking_publishes_the_outcome_then_the_slot_and_republishes_them_on_redelivery() -> None:
    handlers, _, sink = _handlers()
    request = request_event("s1", "r1", "c1")
    await handlers.on_booking(request)
    await handlers.on_booking(request)
    assert [e.id for e in sink.published] == ["r1.outcome", "r1.slot", "r1.outcome", "r1.slot"]


async def test_a_request_for_a_slot_not_read_yet_is_retried_until_the_slots_are_read() -> None:
    feed = FakeSlotFeed()
    sink = RecordingSink()
    handlers = CatalogueHandlers(FakeReadModels(), FakeBookings(), sink, feed)
    with pytest.raises(TransientError):
        await handlers.on_booking(request_event("s1", "r1", "c1"))
    assert sink.published == [], "nothing decided while the slot may be on its way"
    feed.caught_up = True
    await handlers.on_booking(request_event("s1", "r1", "c1"))
    assert [e.id for e in sink.published] == ["r1.outcome", "r1.slot"]


async def test_events_the_catalogue_publishes_itself_are_not_handled_again() -> None:
    handlers, _, sink = _handlers()
    await handlers.on_booking(request_event("s1", "r1", "c1"))
    for published in list(sink.published):
        await handlers.on_booking(published)
    assert len(sink.published) == 2


async def test_tombstone_erases_the_entity() -> None:
    handlers, read_models, _ = _handlers()
    await handlers.on_entity(vacancy_event("v1"))
    await handlers.on_tombstone(ev.VacancyPosted.TOPIC)("v1")
    assert ("vacancies", "v1") not in read_models.rows
    await handlers.on_entity(slot_event("s9"))
