"""Reading and re-driving a dead-letter topic with a plain aiokafka consumer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from vocation_shared.contracts.topics import DLQ_SUFFIX
from vocation_shared.kafka import headers as h

from vocation_events.core.ingestion import Record
from vocation_events.ports import EventSink

REDRIVE_GROUP = "events-dlq-redrive"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter: where it sits, why it is there, and the original record."""

    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    redriven: bool

    @property
    def reason(self) -> str:
        """Why the consumer gave up."""
        return self.headers.get(h.DLQ_REASON, "?")

    def original_record(self, default_topic: str) -> Record:
        """The record to write back: original topic, key, value and headers, without the dlq ones."""
        headers = tuple(
            (name, value.encode()) for name, value in self.headers.items() if not name.startswith("dlq.")
        )
        return Record(self.headers.get(h.DLQ_TOPIC, default_topic), self.key or b"", self.value, headers)


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of `topic` (given either name)."""
    return topic if topic.endswith(DLQ_SUFFIX) else topic + DLQ_SUFFIX


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


async def redrive(
    bootstrap: str, topic: str, sink: EventSink, reason: str | None = None, dry_run: bool = False
) -> list[DeadLetter]:
    """Write the dead letters not yet re-driven back to their original topic; returns them.

    Progress is committed in the consumer group `events-dlq-redrive`, so a letter is re-driven
    once. Consumers are idempotent: a re-driven event that had been applied is skipped.
    """
    name = dlq_topic(topic)
    original = name.removesuffix(DLQ_SUFFIX)
    async with _consumer(bootstrap) as consumer:
        pending = await _read(consumer, name, only_new=True)
        letters = [d for d in pending if reason is None or d.reason == reason]
        if dry_run or not letters:
            return letters
        await sink.write([d.original_record(original) for d in letters])
        # Commit, per partition, up to the first letter left out by the reason filter.
        commit: dict[TopicPartition, int] = {}
        blocked: set[int] = set()
        for d in pending:
            if d.partition in blocked:
                continue
            if reason is not None and d.reason != reason:
                blocked.add(d.partition)
                continue
            commit[TopicPartition(name, d.partition)] = d.offset + 1
        if commit:
            await consumer.commit(commit)
        return letters
