"""Dead letters: what one is about, what re-driving it writes back, and how far a re-drive commits.

A re-drive never brings back what belongs to an erased candidate: the candidate ids of each letter
(its key on the topics keyed by candidate, `data.candidate_id` in its event) are checked against
the erasure ledger, and such letters are skipped for good. Tombstones are the exception: a
tombstone is the erasure itself, and is re-driven as a tombstone (null value).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from vocation_shared.contracts.topics import DLQ_SUFFIX, Topic
from vocation_shared.kafka import headers as h

from vocation_events.core.ingestion import Record

CANDIDATE_KEYED = frozenset({Topic.CANDIDATES, Topic.CANDIDATE_CONTACTS, Topic.MATCHES, Topic.NOTIFICATIONS})
"""Topics whose record key is a candidate id."""
TOMBSTONE_REASONS = frozenset({"rejected", "processing-failed"})
"""Reasons a tombstone was dead-lettered for (its handler failed): an empty value with one of them,
written before tombstones were marked, was a tombstone (an empty record would be `unparsable`)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter: where it sits, why it is there, and the original record."""

    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    redriven: bool

    @property
    def reason(self) -> str:
        """Why the consumer gave up."""
        return self.headers.get(h.DLQ_REASON, "?")

    @property
    def tombstone(self) -> bool:
        """Whether the original record was a tombstone (an erasure)."""
        if self.value is None or self.headers.get(h.DLQ_TOMBSTONE) == "true":
            return True
        return self.value == b"" and self.reason in TOMBSTONE_REASONS

    def candidate_ids(self, default_topic: str) -> set[str]:
        """The candidates this letter is about: its key on a topic keyed by candidate, and
        `data.candidate_id` when its value is an event naming one."""
        found: set[str] = set()
        if self.headers.get(h.DLQ_TOPIC, default_topic) in CANDIDATE_KEYED and self.key:
            found.add(self.key.decode("utf-8", errors="replace"))
        if self.value:
            try:
                document = orjson.loads(self.value)
            except orjson.JSONDecodeError:
                return found
            data = document.get("data") if isinstance(document, dict) else None
            candidate = data.get("candidate_id") if isinstance(data, dict) else None
            if isinstance(candidate, str):
                found.add(candidate)
        return found

    def original_record(self, default_topic: str) -> Record:
        """The record to write back: original topic, key, value and headers, without the dlq ones.

        A tombstone goes back as a tombstone (null value), never as an empty value.
        """
        headers = tuple(
            (name, value.encode()) for name, value in self.headers.items() if not name.startswith("dlq.")
        )
        value = None if self.tombstone else self.value
        return Record(self.headers.get(h.DLQ_TOPIC, default_topic), self.key or b"", value, headers)


@dataclass(slots=True)
class Redrive:
    """What a re-drive wrote back, and what it skipped for good because the person was erased."""

    redriven: list[DeadLetter] = field(default_factory=list)
    erased: list[DeadLetter] = field(default_factory=list)


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of `topic` (given either name)."""
    return topic if topic.endswith(DLQ_SUFFIX) else topic + DLQ_SUFFIX


def commit_positions(pending: Sequence[DeadLetter], reason: str | None) -> dict[int, int]:
    """The next offset to commit per partition: past every pending letter, or, with a `reason`
    filter, up to the first letter of another reason (left for a later re-drive)."""
    commit: dict[int, int] = {}
    blocked: set[int] = set()
    for d in pending:
        if d.partition in blocked:
            continue
        if reason is not None and d.reason != reason:
            blocked.add(d.partition)
            continue
        commit[d.partition] = d.offset + 1
    return commit
