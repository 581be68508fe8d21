"""Helpers of the integration tests: settings for a test gateway, reading a topic back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from vocation_events.settings import EventsSettings

AddPartner = Callable[..., Awaitable[str]]


def make_settings(kafka_bootstrap: str, database_url: str, **overrides: object) -> EventsSettings:
    values: dict[str, object] = {
        "kafka_bootstrap": kafka_bootstrap,
        "database_url": database_url,
        "partner_cache_ttl_s": 0,
        "consumer_retry_initial_s": 0.05,
        "consumer_retry_max_s": 0.5,
        "publish_timeout_s": 5,
        "archive_group": f"events-archive-{uuid.uuid4().hex[:8]}",
        "webhooks_enabled": False,
        "webhooks_group": f"events-webhooks-{uuid.uuid4().hex[:8]}",
        **overrides,
    }
    return EventsSettings(**values)  # type: ignore[arg-type]


async def read_topic(bootstrap: str, topic: str, keys: set[bytes]) -> list[ConsumerRecord[bytes, bytes]]:
    """The records of `topic` whose key is in `keys`, from the beginning up to the current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + 20
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending and time.monotonic() < deadline:
            batches = await consumer.getmany(*pending, timeout_ms=300)
            for tp, records in batches.items():
                found += [r for r in records if r.key in keys]
                if records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
        return found
    finally:
        await consumer.stop()
