"""The Kafka sink: the platform's producer (acks=all, idempotence), writing many records at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from vocation_shared.kafka.batches import RecordTooLarge, send_in_batches
from vocation_shared.kafka.producer import make_producer as shared_producer
from vocation_shared.logs import get_logger

from vocation_events.core.ingestion import Record
from vocation_events.ports import Unavailable

log = get_logger(__name__)


def make_producer(
    bootstrap: str, *, client_id: str, max_batch_bytes: int, linger_ms: int
) -> AIOKafkaProducer:
    """The platform's producer (`vocation_shared.kafka.producer`), with the gateway's batching.

    A bare aiokafka producer because the gateway needs `send()`'s futures to pipeline a whole
    batch. `send_in_batches` places the records itself; the partitioner places a single `send()`
    the same way (a composite key `<slot id>/<request id>` on `immersion-bookings` by its slot id).
    """
    return shared_producer(
        bootstrap, client_id=client_id, max_batch_size=max_batch_bytes, linger_ms=linger_ms
    )


class KafkaSink:
    """Writes records and waits for all acknowledgements; connects lazily, answers `Unavailable`."""

    def __init__(self, producer_factory: Callable[[], AIOKafkaProducer], timeout_s: float) -> None:
        self._factory = producer_factory
        self._timeout_s = timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Connect now if Kafka is reachable (otherwise at the first write)."""
        try:
            await self._ensure()
        except Unavailable as exc:
            log.warning("kafka.unavailable_at_start", error=str(exc))

    async def stop(self) -> None:
        """Flush and close the producer."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = self._factory()
                try:
                    await asyncio.wait_for(producer.start(), self._timeout_s)
                except BaseException as exc:
                    await asyncio.shield(producer.stop())
                    if isinstance(exc, KafkaError | OSError | TimeoutError):
                        raise Unavailable(f"Kafka unreachable: {type(exc).__name__}") from exc
                    raise
                self._producer = producer
            return self._producer

    async def write(self, records: Sequence[Record]) -> None:
        """Write every record and wait for all acknowledgements.

        Records are grouped into one producer batch per partition (`send_in_batches`: the default
        partitioner's murmur2 of the key, or of its slot id for `<slot id>/<request id>`, as every
        other producer of the platform does), which
        costs far less than one `send()` per record; order is kept within a partition.
        """
        producer = await self._ensure()
        try:
            async with asyncio.timeout(self._timeout_s):
                await asyncio.gather(*await send_in_batches(producer, records))
        except RecordTooLarge as exc:
            raise Unavailable(str(exc)) from exc
        except (KafkaError, OSError, TimeoutError) as exc:
            raise Unavailable(f"Kafka did not acknowledge: {type(exc).__name__}") from exc

    async def ping(self) -> bool:
        """Whether the cluster answers a metadata request."""
        try:
            producer = await self._ensure()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 1.5)
        except Exception:
            return False
        return True


class ProducerFactory:
    """Builds the producer of a sink (one per connection attempt)."""

    def __init__(self, bootstrap: str, client_id: str, max_batch_bytes: int, linger_ms: int) -> None:
        self._args = (bootstrap, client_id, max_batch_bytes, linger_ms)

    def __call__(self) -> AIOKafkaProducer:
        bootstrap, client_id, max_batch_bytes, linger_ms = self._args
        return make_producer(
            bootstrap, client_id=client_id, max_batch_bytes=max_batch_bytes, linger_ms=linger_ms
        )
