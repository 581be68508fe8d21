"""Kafka: subscribes the application layer's handlers to the topics this service consumes.

Every topic is consumed per fetched batch (`EventConsumer.subscribe_batch`, which validates each
record into its contract first). If a batch keeps failing, the consumer retries its events one by
one and dead-letters only the faulty one. A tombstone on `candidate-contacts` is applied in its
place in the order: the events before it are committed first (`on_tombstone`); so is matching's
tombstone on `matches` (an erasure, once every match of the candidate is behind it).
"""

from __future__ import annotations

from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import types_on
from vocation_shared.contracts.topics import Topic
from vocation_shared.kafka import EventConsumer
from vocation_shared.kafka.consumer import BatchHandler

from vocation_notifications.handlers import Handlers

CONSUMED = (
    Topic.CANDIDATE_CONTACTS,
    Topic.ESTABLISHMENTS,
    Topic.IMMERSION_SLOTS,
    Topic.MATCHES,
    Topic.IMMERSION_BOOKINGS,
    Topic.VACANCIES,
    Topic.APPLICATIONS,
)
"""The topics this service reads, each under its own consumer group (`Handlers.group`)."""


def subscribe(consumer: EventConsumer, handlers: Handlers, max_records: int = 500) -> None:
    """Subscribe every handler to its topic."""
    consumer.subscribe_batch(
        Topic.CANDIDATE_CONTACTS,
        group_id=handlers.group(Topic.CANDIDATE_CONTACTS),
        handle_batch=handlers.on_contacts,
        on_tombstone=handlers.on_contact_erased,
        accepts=types_on(Topic.CANDIDATE_CONTACTS),
        max_records=max_records,
    )
    read_models: dict[Topic, BatchHandler] = {
        Topic.ESTABLISHMENTS: handlers.on_establishments,
        Topic.IMMERSION_SLOTS: handlers.on_slots,
        Topic.VACANCIES: handlers.on_vacancies,
    }
    for topic, handle in read_models.items():
        consumer.subscribe_batch(
            topic, group_id=handlers.group(topic), handle_batch=handle, max_records=max_records
        )
    consumer.subscribe_batch(
        Topic.MATCHES,
        group_id=handlers.group(Topic.MATCHES),
        handle_batch=handlers.on_matches,
        on_tombstone=handlers.on_matches_erased,
        max_records=max_records,
    )
    facts: dict[Topic, tuple[BatchHandler, set[str]]] = {
        Topic.IMMERSION_BOOKINGS: (
            handlers.on_bookings,
            {ev.ImmersionBooked.TYPE, ev.ImmersionRefused.TYPE, ev.ImmersionCancelled.TYPE},
        ),
        Topic.APPLICATIONS: (  # not `match.declined`, on the same topic: matching's to read
            handlers.on_applications,
            {ev.ApplicationSubmitted.TYPE, ev.ApplicationAnswered.TYPE, ev.ApplicationWithdrawn.TYPE},
        ),
    }
    for topic, (handle, accepted) in facts.items():
        consumer.subscribe_batch(
            topic,
            group_id=handlers.group(topic),
            handle_batch=handle,
            accepts=accepted,
            max_records=max_records,
        )
