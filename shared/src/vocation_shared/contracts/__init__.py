"""Contracts: CloudEvents envelope, one pydantic model per event type, and the topic registry."""

from vocation_shared.contracts.codec import FieldError, InvalidEvent, parse_event
from vocation_shared.contracts.envelope import CloudEvent, EventData
from vocation_shared.contracts.events import EVENT_MODELS, EVENT_TYPES, AnyEvent, types_on
from vocation_shared.contracts.topics import Topic, TopicSpec, all_topics

__all__ = [
    "EVENT_MODELS",
    "EVENT_TYPES",
    "AnyEvent",
    "CloudEvent",
    "EventData",
    "FieldError",
    "InvalidEvent",
    "Topic",
    "TopicSpec",
    "all_topics",
    "parse_event",
    "types_on",
]
