"""Kafka subscriptions: which topics and types the catalogue reads, and the handler of each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic
from vocation_shared.kafka import EventConsumer, TransientError
from vocation_shared.kafka.consumer import TombstoneHandler

from vocation_catalogue.handlers import APPLICATION_TYPES, Applications, Handlers
from vocation_catalogue.ports import RetryLater

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

MATCH_TYPES = frozenset({ev.MatchFound.TYPE, ev.MatchWithdrawn.TYPE})


def group_for(group_id: str, topic: Topic) -> str:
    """The consumer group reading `topic`: one group per topic, `<consumer_group>.<topic>`."""
    return f"{group_id}.{topic}"


def on_tombstone(handlers: Handlers, topic: Topic) -> TombstoneHandler:
    """A handler that erases the entity of a tombstoned key of `topic`."""
    table = TOMBSTONE_TABLES[topic]

    async def erase(key: str) -> None:
        await handlers.erase_entity(table, key)

    return erase


def on_booking(handlers: Handlers) -> Callable[[AnyEvent], Awaitable[None]]:
    """The bookings' handler, its `RetryLater` retried with backoff as a `TransientError`."""

    async def handle(event: AnyEvent) -> None:
        try:
            await handlers.on_booking(event)
        except RetryLater as exc:
            raise TransientError(str(exc)) from exc

    return handle


def register(consumer: EventConsumer, handlers: Handlers, group_id: str, applications: Applications) -> None:
    """Subscribe the catalogue's consumer groups to its topics (erasures come from `candidates`).

    `applications` reads `matches` (a pair's match; a candidate's tombstone forgets theirs) and
    `applications` (partners' answers; the tombstones there are the catalogue's own: nothing to do).
    """
    for topic, types in ENTITY_TYPES.items():
        consumer.subscribe(
            str(topic),
            group_id=group_for(group_id, topic),
            handle=handlers.on_entity,
            accepts=types,
            on_tombstone=on_tombstone(handlers, topic),
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
        handle=on_booking(handlers),
        accepts=BOOKING_TYPES,
    )
    consumer.subscribe_batch(
        str(Topic.MATCHES),
        group_id=group_for(group_id, Topic.MATCHES),
        handle_batch=applications.on_matches,
        accepts=MATCH_TYPES,
        on_tombstone=applications.forget_matches,
    )
    consumer.subscribe(
        str(Topic.APPLICATIONS),
        group_id=group_for(group_id, Topic.APPLICATIONS),
        handle=applications.on_application,
        accepts=APPLICATION_TYPES,
    )
