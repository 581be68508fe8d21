"""Topic administration with aiokafka's admin client: probe, create and describe topics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from vocation_shared.contracts.topics import TopicSpec

REQUEST_TIMEOUT_MS = 10_000


@dataclass(frozen=True, slots=True)
class TopicDescription:
    """What the broker says about one topic."""

    name: str
    partitions: int
    cleanup_policy: str
    config: dict[str, str]


def _admin(bootstrap: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        client_id="vocation-local",
    )


async def probe(bootstrap: str) -> bool:
    """Whether the cluster answers a metadata request listing at least one broker."""
    admin = _admin(bootstrap)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await admin.close()


async def _topic_metadata(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, Any]:
    topics: list[dict[str, Any]] = await admin.describe_topics(names)
    return {t["topic"]: t for t in topics}


def _all_led(meta: dict[str, Any], names: Iterable[str]) -> bool:
    for name in names:
        topic = meta.get(name)
        if topic is None or topic["error_code"] != 0 or not topic["partitions"]:
            return False
        if any(p["leader"] < 0 for p in topic["partitions"]):
            return False
    return True


async def create_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    *,
    replication_factor: int = 1,
    ready_within: float = 30.0,
) -> list[str]:
    """Create every topic of `specs` that does not exist yet; return the names created.

    Existing topics are left as they are (their partitions and config are not changed). Waits until
    every topic of `specs` has a leader for each partition, so producing right after works.
    """
    wanted = {spec.name: spec for spec in specs}
    admin = _admin(bootstrap)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [spec for name, spec in wanted.items() if name not in existing]
        created: list[str] = []
        if missing:
            new_topics = [
                NewTopic(s.name, s.partitions, replication_factor, topic_configs=s.kafka_config())
                for s in missing
            ]
            response = await admin.create_topics(new_topics, timeout_ms=int(ready_within * 1000))
            for entry in response.to_object()["topic_errors"]:
                error = for_code(entry["error_code"])
                if entry["error_code"] == 0:
                    created.append(entry["topic"])
                elif error is not TopicAlreadyExistsError:
                    message = entry.get("error_message") or error.message
                    topic = entry["topic"]
                    raise KafkaError(f"cannot create topic {topic}: {error.__name__} {message}")
        deadline = time.monotonic() + ready_within
        names = list(wanted)
        while not _all_led(await _topic_metadata(admin, names), names):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics have no leader after {ready_within}s: {names}")
            await asyncio.sleep(0.1)
        return created
    finally:
        await admin.close()


async def describe_topics(bootstrap: str, names: Iterable[str]) -> dict[str, TopicDescription]:
    """Partitions and topic-level config of the named topics that exist (others are left out)."""
    names = list(names)
    admin = _admin(bootstrap)
    try:
        await admin.start()
        meta = await _topic_metadata(admin, names)
        present = [n for n in names if n in meta and meta[n]["error_code"] == 0]
        if not present:
            return {}
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in present]
        configs: dict[str, dict[str, str]] = {n: {} for n in present}
        for response in await admin.describe_configs(resources):
            for resource in response.to_object()["resources"]:
                entries = resource["config_entries"]
                configs[resource["resource_name"]] = {
                    e["config_names"]: e["config_value"] for e in entries if e["config_value"] is not None
                }
        return {
            n: TopicDescription(
                name=n,
                partitions=len(meta[n]["partitions"]),
                cleanup_policy=configs[n].get("cleanup.policy", ""),
                config=configs[n],
            )
            for n in present
        }
    finally:
        await admin.close()


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """The current end offset of every partition of `topics`, as {(topic, partition): offset}."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    names = sorted(set(topics))
    described = await describe_topics(bootstrap, names)
    partitions = [TopicPartition(t, p) for t in names for p in range(described[t].partitions)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}


async def start_groups_at(
    bootstrap: str, groups: dict[str, str], offsets: dict[tuple[str, int], int], *, only_new: bool = True
) -> None:
    """Commit offsets ({(topic, partition): offset}) for each consumer group ({group: topic}).

    With `only_new`, a group that already committed something keeps its position (a service
    restarted within a test resumes where it was).
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    for group, topic in groups.items():
        partitions = [TopicPartition(t, p) for (t, p) in sorted(offsets) if t == topic]
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(partitions)
            if only_new:
                committed = [await consumer.committed(tp) for tp in partitions]
                if any(c is not None for c in committed):
                    continue
            await consumer.commit({tp: offsets[(tp.topic, tp.partition)] for tp in partitions})
        finally:
            await consumer.stop()


async def start_groups_at_end(bootstrap: str, groups: dict[str, str]) -> None:
    """Commit each consumer group's offsets at the current end of its topic ({group: topic}).

    For tests that share one broker: a new service then reads only what is published after
    this point, as a deployed service that already handled the history would, instead of
    the whole backlog other tests left on the topic.
    """
    await start_groups_at(bootstrap, groups, await end_offsets(bootstrap, groups.values()), only_new=False)
