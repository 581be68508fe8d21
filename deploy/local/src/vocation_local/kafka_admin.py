"""Topic administration with aiokafka's admin client: probe, create and describe topics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from vocation_shared.kafka.admin import admin_client, topic_metadata


@dataclass(frozen=True, slots=True)
class TopicDescription:
    """What the broker says about one topic."""

    name: str
    partitions: int
    cleanup_policy: str
    config: dict[str, str]


def _admin(bootstrap: str) -> AIOKafkaAdminClient:
    return admin_client(bootstrap, client_id="vocation-local")


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


async def describe_topics(bootstrap: str, names: Iterable[str]) -> dict[str, TopicDescription]:
    """Partitions and topic-level config of the named topics that exist (others are left out)."""
    names = list(names)
    admin = _admin(bootstrap)
    try:
        await admin.start()
        meta = await topic_metadata(admin, names)
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
