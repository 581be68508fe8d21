"""The Kafka side of the reactions: the group's subscriptions, each fetched batch handed to `handlers.py`.

Events are consumed **per fetched batch** (`EventConsumer.subscribe_batch`: commit after the whole
batch, DLQ, retries; a batch that keeps failing is retried event by event and only the faulty one is
dead-lettered). Before a batch is handed over, the state is brought up to the end offsets of the
state topics as of now (`BarrierConsumer`, `StateReader.caught_up`): an offer posted just after a
candidate registered is matched against that candidate by whichever instance reacts to the offer,
even if another instance reacts to the candidate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import ConsumerRecord
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.topics import Topic
from vocation_shared.kafka import EventConsumer
from vocation_shared.kafka.consumer import BatchHandler, TombstoneHandler

from vocation_matching.handlers import Handlers


class BarrierConsumer(EventConsumer):
    """An `EventConsumer` whose batch subscriptions first wait for the state.

    Before each fetched batch, it waits until the state holds every event written to the state
    topics so far (``barrier``); tombstones are handed over in order by `subscribe_batch`.
    """

    def __init__(self, *args: Any, barrier: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._barrier = barrier

    async def process_fetched_batch(
        self,
        records: Iterable[ConsumerRecord[bytes, bytes]],
        topic: str,
        group_id: str,
        handle_batch: BatchHandler,
        accepts: frozenset[str] | None,
        on_tombstone: TombstoneHandler | None,
    ) -> None:
        """Catch the state up, then apply the batch."""
        await self._barrier()
        await super().process_fetched_batch(records, topic, group_id, handle_batch, accepts, on_tombstone)


def subscribe_handlers(consumer: BarrierConsumer, handlers: Handlers, group_id: str) -> None:
    """Register the subscriptions: candidates, the three offer topics and `applications` (refusals and
    hires; the other facts of that topic are skipped), one group per topic.

    One group per topic (``<group>.<topic>``) rather than one group for the four subscribers:
    FastStream runs one Kafka consumer per subscriber, and four members joining one group one
    after the other cost several rebalances at every start.
    """
    consumer.subscribe_batch(
        Topic.CANDIDATES,
        group_id=f"{group_id}.{Topic.CANDIDATES}",
        handle_batch=handlers.on_candidate_events,
        on_tombstone=handlers.on_candidate_tombstone,
    )
    for topic in (Topic.VACANCIES, Topic.IMMERSION_SLOTS, Topic.TRAININGS):
        consumer.subscribe_batch(
            topic,
            group_id=f"{group_id}.{topic}",
            handle_batch=handlers.on_offer_events,
            on_tombstone=handlers.offer_tombstone_handler(topic),
        )
    consumer.subscribe_batch(
        Topic.APPLICATIONS,
        group_id=f"{group_id}.{Topic.APPLICATIONS}",
        handle_batch=handlers.on_application_events,
        accepts={ev.MatchDeclined.TYPE, ev.ApplicationAnswered.TYPE},
    )
