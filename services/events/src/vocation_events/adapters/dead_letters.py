"""A dead-letter topic read with a plain aiokafka consumer: listed, and re-driven by `handlers/dead_letters.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from vocation_shared.contracts.topics import DLQ_SUFFIX
from vocation_shared.kafka import headers as h

from vocation_events.core.dead_letters import DeadLetter, Redrive, dlq_topic
from vocation_events.handlers import dead_letters as handlers
from vocation_events.ports import EventSink, UnitsOfWork

REDRIVE_GROUP = "events-dlq-redrive"


@asynccontextmanager
async def _consumer(bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=REDRIVE_GROUP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def _read(consumer: AIOKafkaConsumer, topic: str, only_new: bool) -> list[DeadLetter]:
    partitions = consumer.partitions_for_topic(topic)
    if partitions is None:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise LookupError(f"no such topic: {topic}")
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    ends = await consumer.end_offsets(tps)
    done: dict[TopicPartition, int] = {}
    for tp in tps:
        done[tp] = await consumer.committed(tp) or 0
        if only_new:
            consumer.seek(tp, done[tp])
        else:
            consumer.seek(tp, 0)
    letters: list[DeadLetter] = []
    remaining = {tp for tp in tps if ends[tp] > (done[tp] if only_new else 0)}
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=1000)
        if not batches:
            break
        for tp, records in batches.items():
            for r in records:
                if r.offset >= ends[tp]:
                    continue
                letters.append(
                    DeadLetter(
                        r.partition,
                        r.offset,
                        datetime.fromtimestamp(r.timestamp / 1000, UTC),
                        r.key,
                        r.value,
                        h.decode_headers(r.headers),
                        r.offset < done[tp],
                    )
                )
            if records and records[-1].offset + 1 >= ends[tp]:
                remaining.discard(tp)
    return sorted(letters, key=lambda d: (d.partition, d.offset))


async def list_dead_letters(bootstrap: str, topic: str) -> list[DeadLetter]:
    """Every dead letter of a topic, marked when already re-driven."""
    async with _consumer(bootstrap) as consumer:
        return await _read(consumer, dlq_topic(topic), only_new=False)


class KafkaDeadLetterQueue:
    """The `DeadLetterQueue` port on one dead-letter topic, in the consumer group `events-dlq-redrive`."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str) -> None:
        self._consumer = consumer
        self._name = dlq_topic(topic)
        self.original_topic = self._name.removesuffix(DLQ_SUFFIX)

    async def pending(self) -> list[DeadLetter]:
        """The letters past the group's committed offsets."""
        return await _read(self._consumer, self._name, only_new=True)

    async def commit(self, next_offsets: Mapping[int, int]) -> None:
        """Commit the group's position on each partition."""
        await self._consumer.commit({TopicPartition(self._name, p): o for p, o in next_offsets.items()})


async def redrive(
    bootstrap: str,
    topic: str,
    sink: EventSink,
    reason: str | None = None,
    dry_run: bool = False,
    units: UnitsOfWork | None = None,
) -> Redrive:
    """`handlers.dead_letters.redrive` on the dead-letter topic of `topic` (given either name)."""
    async with _consumer(bootstrap) as consumer:
        return await handlers.redrive(KafkaDeadLetterQueue(consumer, topic), sink, units, reason, dry_run)
