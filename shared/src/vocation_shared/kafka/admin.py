"""Topic administration for operators and tools: create the registry's topics on a cluster."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from vocation_shared.contracts.topics import TopicSpec

REQUEST_TIMEOUT_MS = 10_000


def admin_client(bootstrap: str, client_id: str = "vocation-admin") -> AIOKafkaAdminClient:
    """An aiokafka admin client (not started)."""
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        client_id=client_id,
    )


async def topic_metadata(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, Any]:
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
    admin = admin_client(bootstrap)
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
        while not _all_led(await topic_metadata(admin, names), names):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics have no leader after {ready_within}s: {names}")
            await asyncio.sleep(0.1)
        return created
    finally:
        await admin.close()
