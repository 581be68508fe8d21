"""A FastStream Kafka broker whose producer waits for every in-sync replica and never duplicates."""

from __future__ import annotations

import logging
from typing import Any

from faststream.kafka import KafkaBroker

from vocation_shared.kafka.producer import producer_options


def make_broker(bootstrap: str, *, client_id: str, **kwargs: Any) -> KafkaBroker:
    """A broker (not connected yet) whose producer has the platform's guarantees (`producer_options`)."""
    logger = kwargs.pop("logger", logging.getLogger(f"vocation.{client_id}.kafka"))
    return KafkaBroker(bootstrap.split(","), client_id=client_id, logger=logger, **producer_options(**kwargs))
