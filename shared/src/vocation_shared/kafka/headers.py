"""Kafka headers: the ones every event carries beside its structured-mode CloudEvent, and the dead letters' ones."""

from __future__ import annotations

from vocation_shared.contracts.envelope import CLOUDEVENTS_CONTENT_TYPE

CONTENT_TYPE = "content-type"
CE_TYPE = "ce_type"
CE_ID = "ce_id"
CE_SOURCE = "ce_source"

DLQ_REASON = "dlq.reason"
DLQ_ERROR = "dlq.error"
DLQ_TOPIC = "dlq.original.topic"
DLQ_PARTITION = "dlq.original.partition"
DLQ_OFFSET = "dlq.original.offset"
DLQ_CONSUMER = "dlq.consumer"
DLQ_FAILED_AT = "dlq.failed_at"
DLQ_ATTEMPTS = "dlq.attempts"
DLQ_TOMBSTONE = "dlq.tombstone"
"""`true` when the dead letter is a tombstone (null value): it is re-driven as a tombstone."""


_CONTENT_TYPE_HEADER = (CONTENT_TYPE, CLOUDEVENTS_CONTENT_TYPE.encode())


def cloudevent_headers(event_type: str, event_id: str, source: str) -> list[tuple[str, bytes]]:
    """The headers of an event's record: its content type and, for routing without parsing, type, id and source.

    The one place they are built: the gateway, every publisher, the replay and the ledgers that
    write records in batches all call it.
    """
    return [
        _CONTENT_TYPE_HEADER,
        (CE_TYPE, event_type.encode()),
        (CE_ID, event_id.encode()),
        (CE_SOURCE, source.encode()),
    ]


def decode_headers(
    raw: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...] | None,
) -> dict[str, str]:
    """Kafka record headers as a dict of text (undecodable bytes are replaced, never fatal)."""
    return {name: (value or b"").decode("utf-8", errors="replace") for name, value in (raw or ())}
