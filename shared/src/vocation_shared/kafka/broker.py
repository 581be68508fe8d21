"""A FastStream Kafka broker whose producer waits for every in-sync replica and never duplicates."""

from __future__ import annotations

import logging
from typing import Any

from faststream.kafka import KafkaBroker

from vocation_shared.kafka.batches import KeyPrefixPartitioner


def make_broker(bootstrap: str, *, client_id: str, **kwargs: Any) -> KafkaBroker:
    """A broker (not connected yet) with `acks=all` and idempotence on.

    aiokafka defaults to acks=1 without idempotence: a leader crash could lose an
    acknowledged event or a retry could write it twice. Both are set explicitly here. Records are
    placed as `send_in_batches` places them (`KeyPrefixPartitioner`).
    """
    return KafkaBroker(
        bootstrap.split(","),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        partitioner=kwargs.pop("partitioner", KeyPrefixPartitioner()),
        request_timeout_ms=kwargs.pop("request_timeout_ms", 30_000),
        logger=kwargs.pop("logger", logging.getLogger(f"vocation.{client_id}.kafka")),
        **kwargs,
    )
