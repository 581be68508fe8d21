"""The one way a Vocation process writes to Kafka: every producer waits for all in-sync replicas, never duplicates.

aiokafka defaults to `acks=1` without idempotence: a leader crash could lose an acknowledged
record and a retry could write it twice. Every producer of the platform — FastStream's
(`make_broker`) and the raw aiokafka ones that write in batches (`make_producer`) — takes these
settings from `PRODUCER_GUARANTEES`, and places records as `send_in_batches` does
(`KeyPrefixPartitioner`: an entity's records stay on one partition, in order).
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from vocation_shared.kafka.batches import KeyPrefixPartitioner

PRODUCER_GUARANTEES: dict[str, Any] = {"acks": "all", "enable_idempotence": True}
"""What no producer of the platform may weaken."""

REQUEST_TIMEOUT_MS = 30_000


def producer_options(**overrides: Any) -> dict[str, Any]:
    """Producer keyword arguments: the guarantees, the partitioner, then the caller's tuning.

    Raises `ValueError` when an override would weaken a guarantee.
    """
    for name, value in PRODUCER_GUARANTEES.items():
        if name in overrides and overrides[name] != value:
            raise ValueError(f"a Vocation producer keeps {name}={value!r}")
    return {
        "partitioner": KeyPrefixPartitioner(),
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
        **overrides,
        **PRODUCER_GUARANTEES,
    }


def make_producer(bootstrap: str, *, client_id: str, **overrides: Any) -> AIOKafkaProducer:
    """An aiokafka producer (not started) with the platform's guarantees; `overrides` tune batching."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap.split(","), client_id=client_id, **producer_options(**overrides)
    )
