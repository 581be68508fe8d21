"""Kafka handlers: project entity events into the read models, decide immersion requests, publish."""

from __future__ import annotations

from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic
from vocation_shared.kafka import EventConsumer, TransientError
from vocation_shared.kafka.consumer import TombstoneHandler
from vocation_shared.logs import get_logger

from vocation_catalogue.adapters import metrics
from vocation_catalogue.core.projection import (
    candidate_supply_row,
    establishment_row,
    training_row,
    vacancy_row,
)
from vocation_catalogue.ports import BookingStore, EventSink, Fact, ReadModelStore, SlotFeed, Tombstone

log = get_logger(__name__)

ENTITY_TYPES: dict[Topic, frozenset[str]] = {
    Topic.ESTABLISHMENTS: frozenset({ev.EstablishmentRegistered.TYPE, ev.EstablishmentUpdated.TYPE}),
    Topic.VACANCIES: frozenset(
        {ev.VacancyPosted.TYPE, ev.VacancyUpdated.TYPE, ev.VacancyClosed.TYPE, ev.ShiftAccepted.TYPE}
    ),
    Topic.TRAININGS: frozenset({ev.TrainingSessionPublished.TYPE, ev.TrainingSessionUpdated.TYPE}),
    Topic.IMMERSION_SLOTS: frozenset(
        {ev.ImmersionSlotOffered.TYPE, ev.ImmersionSlotUpdated.TYPE, ev.ImmersionSlotClosed.TYPE}
    ),
}
TOMBSTONE_TABLES: dict[Topic, str] = {
    Topic.ESTABLISHMENTS: "establishments",
    Topic.VACANCIES: "vacancies",
    Topic.TRAININGS: "trainings",
    Topic.IMMERSION_SLOTS: "immersion_slots",
}
BOOKING_TYPES = frozenset({ev.ImmersionRequested.TYPE, ev.ImmersionCancelled.TYPE})
CANDIDATE_TYPES = frozenset(
    {
        ev.CandidateRegistered.TYPE,
        ev.ApprenticeRegistered.TYPE,
        ev.CandidateUpdated.TYPE,
        ev.CandidateWithdrawn.TYPE,
    }
)
SUPPLY = "candidate_supply"


class CatalogueHandlers:
    """The catalogue's event handlers: thin, each one transaction then the publishes it implies."""

    def __init__(
        self,
        read_models: ReadModelStore,
        bookings: BookingStore,
        sink: EventSink,
        slot_feed: SlotFeed | None = None,
    ) -> None:
        """`slot_feed` None: a request for a slot the read model lacks is refused at once (tests)."""
        self._read_models = read_models
        self._bookings = bookings
        self._sink = sink
        self._slot_feed = slot_feed

    async def on_entity(self, event: AnyEvent) -> None:
        """Apply an establishment, vacancy, training or slot event to its read model."""
        applied: bool | None
        if isinstance(event, ev.EstablishmentRegistered | ev.EstablishmentUpdated):
            applied = await self._read_models.apply(establishment_row(event.data, event.time), event)
        elif isinstance(event, ev.VacancyPosted | ev.VacancyUpdated | ev.VacancyClosed):
            applied = await self._read_models.apply(vacancy_row(event.data, event.time), event)
        elif isinstance(event, ev.ShiftAccepted):
            # The first acceptance fills the shift: it leaves the search (a later one changes nothing).
            applied = await self._read_models.fill_vacancy(event.data.vacancy_id, event.time, event)
        elif isinstance(event, ev.TrainingSessionPublished | ev.TrainingSessionUpdated):
            applied = await self._read_models.apply(training_row(event.data, event.time), event)
        elif isinstance(event, ev.ImmersionSlotOffered | ev.ImmersionSlotUpdated | ev.ImmersionSlotClosed):
            republished = await self._read_models.apply_slot(event)
            for fact in republished:
                await self._sink.publish(fact)
            applied = None
        else:
            return
        outcome = {True: "applied", False: "skipped", None: "handled"}[applied]
        metrics.EVENTS_APPLIED.labels(type=event.type, outcome=outcome).inc()

    async def on_booking(self, event: AnyEvent) -> None:
        """Decide a request or apply a cancellation, then publish what it gives (again on redelivery)."""
        if isinstance(event, ev.ImmersionRequested):
            await self._slot_read_first(event.data.slot_id, event.data.request_id)
            published = await self._bookings.request(event)
            for outcome in published[:1]:
                kind = "erased" if isinstance(outcome, Tombstone) else outcome.type.split(".")[3]
                metrics.BOOKINGS.labels(outcome=kind).inc()
        elif isinstance(event, ev.ImmersionCancelled):
            published = await self._bookings.cancel(event)
        else:
            return
        await self._publish(published)
        log.info("immersion.handled", subject=event.subject, published=[_kind(f) for f in published])

    async def _publish(self, facts: list[Fact]) -> None:
        """Publish events and tombstones in order, each acknowledged before the next."""
        for fact in facts:
            if isinstance(fact, Tombstone):
                await self._sink.tombstone(fact.topic, fact.key)
            else:
                await self._sink.publish(fact)

    async def _slot_read_first(self, slot_id: str, request_id: str) -> None:
        """Retry (`TransientError`) a request for a slot not read yet that may be on its way.

        The slot comes on another topic, which may be read later than the request (a restart):
        refusing it as unknown then would be wrong, and final (the outcome is kept).
        """
        if self._slot_feed is None or await self._read_models.has_slot(slot_id):
            return
        if await self._slot_feed.behind(slot_id, request_id):
            metrics.SLOT_WAITS.inc()  # the consumer logs each retry, with this reason
            raise TransientError(f"slot {slot_id} may not be read yet: the request waits for it")

    async def on_candidate(self, event: AnyEvent) -> None:
        """Who looks for what where (the observatory's supply); on erasure, forget bookings and requests too."""
        if isinstance(event, ev.CandidateRegistered | ev.ApprenticeRegistered | ev.CandidateUpdated):
            await self._read_models.apply(candidate_supply_row(event.data, event.time), event)
        elif isinstance(event, ev.CandidateWithdrawn):
            if event.data.erasure_requested:
                await self.erase_candidate(event.data.candidate_id)
            else:
                await self._read_models.erase(SUPPLY, event.data.candidate_id)

    async def erase_candidate(self, candidate_id: str) -> None:
        """Erase a candidate (the withdrawal or the tombstone on `candidates`, whichever comes first)."""
        await self._read_models.erase(SUPPLY, candidate_id)
        published = await self._bookings.erase_candidate(candidate_id)
        await self._publish(published)
        log.info(
            "candidate.erased",
            candidate_id=candidate_id,
            slots_freed=sum(1 for f in published if not isinstance(f, Tombstone)),
            requests_erased=sum(1 for f in published if isinstance(f, Tombstone)),
        )

    def on_tombstone(self, topic: Topic) -> TombstoneHandler:
        """A handler that erases the entity of a tombstoned key of `topic`."""
        table = TOMBSTONE_TABLES[topic]

        async def erase(key: str) -> None:
            await self._read_models.erase(table, key)

        return erase


def _kind(fact: Fact) -> str:
    return "tombstone" if isinstance(fact, Tombstone) else fact.type


def group_for(group_id: str, topic: Topic) -> str:
    """The consumer group reading `topic`: one group per topic, `<consumer_group>.<topic>`."""
    return f"{group_id}.{topic}"


def register(consumer: EventConsumer, handlers: CatalogueHandlers, group_id: str) -> None:
    """Subscribe the catalogue's consumer groups to its topics (erasures come from `candidates`)."""
    for topic, types in ENTITY_TYPES.items():
        consumer.subscribe(
            str(topic),
            group_id=group_for(group_id, topic),
            handle=handlers.on_entity,
            accepts=types,
            on_tombstone=handlers.on_tombstone(topic),
        )
    consumer.subscribe(
        str(Topic.CANDIDATES),
        group_id=group_for(group_id, Topic.CANDIDATES),
        handle=handlers.on_candidate,
        accepts=CANDIDATE_TYPES,
        on_tombstone=handlers.erase_candidate,
    )
    consumer.subscribe(
        str(Topic.IMMERSION_BOOKINGS),
        group_id=group_for(group_id, Topic.IMMERSION_BOOKINGS),
        handle=handlers.on_booking,
        accepts=BOOKING_TYPES,
    )
