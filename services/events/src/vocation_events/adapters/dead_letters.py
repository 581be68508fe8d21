"""Reading and re-driving a dead-letter topic with a plain aiokafka consumer.

A re-drive never brings back what belongs to an erased candidate: the candidate ids of each letter
(its key on the topics keyed by candidate, `data.candidate_id` in its event) are looked up in the
events database's `erasures` table, and such letters are skipped for good. Tombstones are the
exception: a tombstone is the erasure itself, and is re-driven as a tombstone (null value).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from vocation_shared.contracts.topics import DLQ_SUFFIX, Topic
from vocation_shared.kafka import headers as h
from vocation_shared.pseudonyms import Pseudonymizer

from vocation_events.core.ingestion import Record
from vocation_events.ports import EventSink

REDRIVE_GROUP = "events-dlq-redrive"
CANDIDATE_KEYED = frozenset({Topic.CANDIDATES, Topic.CANDIDATE_CONTACTS, Topic.MATCHES, Topic.NOTIFICATIONS})
"""Topics whose record key is a candidate id."""
TOMBSTONE_REASONS = frozenset({"rejected", "processing-failed"})
"""Reasons a tombstone was dead-lettered for (its handler failed): an empty value with one of them,
written before tombstones were marked, was a tombstone (an empty record would be `unparsable`)."""

ErasedAmong = Callable[[Collection[str]], Awaitable[set[str]]]
"""Which of the given candidate ids were erased."""


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

    @property
    def tombstone(self) -> bool:
        """Whether the original record was a tombstone (an erasure)."""
        if self.value is None or self.headers.get(h.DLQ_TOMBSTONE) == "true":
            return True
        return self.value == b"" and self.reason in TOMBSTONE_REASONS

    def candidate_ids(self, default_topic: str) -> set[str]:
        """The candidates this letter is about: its key on a topic keyed by candidate, and
        `data.candidate_id` when its value is an event naming one."""
        found: set[str] = set()
        if self.headers.get(h.DLQ_TOPIC, default_topic) in CANDIDATE_KEYED and self.key:
            found.add(self.key.decode("utf-8", errors="replace"))
        if self.value:
            try:
                document = orjson.loads(self.value)
            except orjson.JSONDecodeError:
                return found
            data = document.get("data") if isinstance(document, dict) else None
            candidate = data.get("candidate_id") if isinstance(data, dict) else None
            if isinstance(candidate, str):
                found.add(candidate)
        return found

    def original_record(self, default_topic: str) -> Record:
        """The record to write back: original topic, key, value and headers, without the dlq ones.

        A tombstone goes back as a tombstone (null value), never as an empty value.
        """
        headers = tuple(
            (name, value.encode()) for name, value in self.headers.items() if not name.startswith("dlq.")
        )
        value = None if self.tombstone else self.value
        return Record(self.headers.get(h.DLQ_TOPIC, default_topic), self.key or b"", value, headers)


@dataclass(slots=True)
class Redrive:
    """What a re-drive wrote back, and what it skipped for good because the person was erased."""

    redriven: list[DeadLetter] = field(default_factory=list)
    erased: list[DeadLetter] = field(default_factory=list)


async def erased_in(
    pool: asyncpg.Pool, candidate_ids: Collection[str], pseudonymizer: Pseudonymizer
) -> set[str]:
    """The ids among `candidate_ids` that the events database has erased (table `erasures`, by pseudonym)."""
    if not candidate_ids:
        return set()
    by_pseudonym = {pseudonymizer.candidate(i): i for i in candidate_ids}
    rows = await pool.fetch(
        "SELECT candidate_pseudonym FROM erasures WHERE candidate_pseudonym = ANY($1::text[])",
        list(by_pseudonym),
    )
    return {by_pseudonym[r[0]] for r in rows}


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
    bootstrap: str,
    topic: str,
    sink: EventSink,
    reason: str | None = None,
    dry_run: bool = False,
    erased_among: ErasedAmong | None = None,
) -> Redrive:
    """Write the dead letters not yet re-driven back to their original topic.

    Progress is committed in the consumer group `events-dlq-redrive`, so a letter is re-driven
    once. Consumers are idempotent: a re-driven event that had been applied is skipped. With
    `erased_among`, a letter about an erased candidate is skipped for good (committed, not written);
    a tombstone is always re-driven, as a tombstone.
    """
    name = dlq_topic(topic)
    original = name.removesuffix(DLQ_SUFFIX)
    result = Redrive()
    async with _consumer(bootstrap) as consumer:
        pending = await _read(consumer, name, only_new=True)
        chosen = [d for d in pending if reason is None or d.reason == reason]
        erased: set[str] = set()
        if erased_among is not None:
            about = {c for d in chosen if not d.tombstone for c in d.candidate_ids(original)}
            erased = await erased_among(about)
        for d in chosen:
            if not d.tombstone and d.candidate_ids(original) & erased:
                result.erased.append(d)
            else:
                result.redriven.append(d)
        if dry_run or not chosen:
            return result
        if result.redriven:
            await sink.write([d.original_record(original) for d in result.redriven])
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
        return result
