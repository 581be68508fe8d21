"""Kafka plumbing on FastStream: safe producers, consumers that commit after processing, dead letters."""

from vocation_shared.kafka.broker import make_broker
from vocation_shared.kafka.consumer import (
    EventConsumer,
    PermanentError,
    RetryPolicy,
    TransientError,
)
from vocation_shared.kafka.dead_letters import DeadLetterPublisher, DeadLetterReason
from vocation_shared.kafka.publisher import EventPublisher

__all__ = [
    "DeadLetterPublisher",
    "DeadLetterReason",
    "EventConsumer",
    "EventPublisher",
    "PermanentError",
    "RetryPolicy",
    "TransientError",
    "make_broker",
]
