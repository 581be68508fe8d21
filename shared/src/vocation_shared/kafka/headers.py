"""Kafka header names that Vocation writes beside structured-mode CloudEvents."""

from __future__ import annotations

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


def decode_headers(
    raw: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...] | None,
) -> dict[str, str]:
    """Kafka record headers as a dict of text (undecodable bytes are replaced, never fatal)."""
    return {name: (value or b"").decode("utf-8", errors="replace") for name, value in (raw or ())}
