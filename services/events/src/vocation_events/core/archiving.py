"""What the archive keeps of a record: its JSON (personal fields sealed) and the candidate it is about."""

from __future__ import annotations

from typing import Any

import orjson
from vocation_shared.contracts.topics import KEY_SEPARATOR, spec_of

from vocation_events.core.archive_sealing import ArchiveSeal

PERSONAL_TOPICS = (
    "candidates",
    "candidate-contacts",
    "matches",
    "applications",
    "notifications",
    "immersion-bookings",
)
"""Topics about people: their events are erased with the candidate (`applications` and
`immersion-bookings` name the candidate in `data.candidate_id`, which comes first)."""


def tombstoned(topic: str, key: str) -> tuple[str, tuple[str, str] | None]:
    """What a tombstone's key names: the subject, and on a topic with composite keys
    (`<subject>/<record id>`) the record's field and id; its archived events are forgotten."""
    field = spec_of(topic).record_id_field
    if field is None:
        return key, None
    subject, separator, record_id = key.partition(KEY_SEPARATOR)
    return subject, ((field, record_id) if separator else None)


def candidate_of(topic: str, subject: str, data: Any) -> str | None:
    """The candidate an archived event is about: `data.candidate_id`, else the subject on a person's topic."""
    candidate = getattr(data, "candidate_id", None)
    if isinstance(candidate, str):
        return candidate
    return subject if topic in PERSONAL_TOPICS else None


def archived_json(seal: ArchiveSeal, event_type: str, value: bytes) -> str:
    """The record's JSON as archived: unchanged, or with its personal fields sealed; jsonb-safe."""
    if seal.enabled and seal.concerns(event_type):
        document = orjson.loads(value)
        seal.seal(document)
        text = orjson.dumps(document).decode()
    else:
        text = value.decode()
    # PostgreSQL's jsonb refuses the NUL character, which JSON allows: U+FFFD is stored instead.
    return text.replace("\\u0000", "\\ufffd") if "\\u0000" in text else text
