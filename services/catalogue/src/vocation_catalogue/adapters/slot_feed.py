"""Whether the catalogue has read every `immersion-slots` event published before a request came.

Requests (`immersion-bookings`) and slots (`immersion-slots`) are two topics, read by two
consumer groups that run at their own pace: after a restart, the bookings may be read before a
slot offered meanwhile. A request for a slot the read model does not hold is decided "unknown
slot" only once the slots' group has committed past the end its partition had when the request
was first seen; until then the handler retries it (`TransientError`).
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from vocation_shared.kafka import TransientError
from vocation_shared.kafka.batches import KeyPrefixPartitioner

ASK_TIMEOUT_S = 5.0
"""Longest wait for the broker's answer (its client's default is 40 s): past it, the request is
retried later like any transient failure (a group coordinator still loading, a broker restarting)."""
PLACEMENT = KeyPrefixPartitioner()
MAX_REMEMBERED = 10_000
"""Requests waiting at once, at most: past this the oldest targets are forgotten (and taken anew)."""


class KafkaSlotFeed:
    """Compares the slots group's committed offset with a target end offset, per waiting request."""

    def __init__(self, bootstrap: str, group_id: str, topic: str, *, client_id: str = "catalogue") -> None:
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._topic = topic
        self._client_id = client_id
        self._targets: dict[str, tuple[TopicPartition, int]] = {}
        self._clients: tuple[AIOKafkaConsumer, AIOKafkaAdminClient] | None = None
        self._lock = asyncio.Lock()

    async def behind(self, slot_id: str, request_id: str) -> bool:
        """Whether the slot's partition had events, when the request was first seen, not committed yet."""
        try:
            async with asyncio.timeout(ASK_TIMEOUT_S):
                return await self._behind(slot_id, request_id)
        except (KafkaError, TimeoutError) as exc:
            raise TransientError(
                f"cannot tell whether slot {slot_id} was read: {type(exc).__name__}"
            ) from exc

    async def _behind(self, slot_id: str, request_id: str) -> bool:
        consumer, admin = await self._connected()
        target = self._targets.get(request_id)
        if target is None:
            partitions = sorted(await self._partitions(consumer))
            if not partitions:
                return False  # no such topic: nothing can be on its way
            # Where every producer put the slot's events (`make_broker`, `make_producer`).
            partition = TopicPartition(self._topic, PLACEMENT(slot_id.encode(), partitions, partitions))
            end = (await consumer.end_offsets([partition]))[partition]
            if len(self._targets) >= MAX_REMEMBERED:
                self._targets.pop(next(iter(self._targets)))
            target = self._targets[request_id] = (partition, end)
        partition, end = target
        committed = await admin.list_consumer_group_offsets(self._group_id, partitions=[partition])
        done = committed.get(partition)
        if (done.offset if done is not None else -1) >= end or end == 0:
            self._targets.pop(request_id, None)
            return False
        return True

    async def _partitions(self, consumer: AIOKafkaConsumer) -> set[int]:
        found = consumer.partitions_for_topic(self._topic)
        if found is None:  # not in the client's metadata yet (as in `vocation_events` dead letters)
            await consumer._client.force_metadata_update()
            found = consumer.partitions_for_topic(self._topic)
        return found or set()

    async def _connected(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        if self._clients is not None:
            return self._clients
        async with self._lock:
            if self._clients is None:
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=self._bootstrap,
                    client_id=f"{self._client_id}-slot-feed",
                    enable_auto_commit=False,
                )
                admin = AIOKafkaAdminClient(
                    bootstrap_servers=self._bootstrap, client_id=f"{self._client_id}-slot-feed"
                )
                await consumer.start()
                try:
                    await admin.start()
                except BaseException:
                    await consumer.stop()
                    await admin.close()
                    raise
                self._clients = (consumer, admin)
            return self._clients

    async def close(self) -> None:
        """Close the clients, if they were opened."""
        if self._clients is not None:
            consumer, admin = self._clients
            self._clients = None
            await consumer.stop()
            await admin.close()
