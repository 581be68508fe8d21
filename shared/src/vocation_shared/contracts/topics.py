"""The topic registry: every Kafka topic of Vocation, its partitions, cleanup and retention.

Erasure must reach Kafka: a compacted topic rolls its active segment every day (`segment.ms`) and
compacts a record at most a day after it was superseded (`max.compaction.lag.ms`), whatever the
share of dirty records, so that an erased person's records are gone within about two days of the
tombstone; the tombstone itself (the id alone) is kept a week so that every consumer sees it. Topics
about people roll daily too, so that their retention is kept to the day, and their dead letters are
kept 30 days (a year for the others).

The topics of facts about people (`matches`, `applications`, `notifications`, `immersion-bookings`) are
`compact,delete`: records older than their retention are deleted as before, and a tombstone that
their producer writes at an erasure removes the person's earlier records too. Compaction keeps only
the latest record of a key, so it waits `min.compaction.lag.ms` (a week): a consumer that keeps up
sees every record; one that replays records older than a week sees the latest one per key. An
erased person's records are gone within `min` + a day of being written (`max.compaction.lag.ms`),
the tombstone a week after.

Keys: a record's key is its event's subject, except where the topic names a record id
(`TopicSpec.record_id_field`): there each record is keyed `<subject>/<record id>` (compaction keeps
one record per request, not one per slot; one per application, not one per candidate) and every
producer of the platform places a record by the part of its key before `/` (`partition_key`): a
slot's requests, a candidate's applications stay on one partition, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DLQ_SUFFIX = ".dlq"
DEFAULT_PARTITIONS = 6
DAY_MS = 24 * 3600 * 1000
WEEK_MS = 7 * DAY_MS
YEAR_MS = 365 * DAY_MS
PERSONAL_DLQ_RETENTION_MS = 30 * DAY_MS
"""Dead letters of a topic about people: long enough to repair and re-drive, not a year."""
FACTS_COMPACTION_LAG_MS = WEEK_MS
"""How long a record of a `compact,delete` topic is safe from compaction: consumers that keep up
see every record; beyond it, only the latest record of a key is kept."""
KEY_SEPARATOR = "/"
"""Splits a composite key `<partition key>/<record id>` (never in an entity id)."""
_SEPARATOR = KEY_SEPARATOR.encode()


def partition_key(key: bytes) -> bytes:
    """The part of a record key that chooses its partition (murmur2): before the first `/`, if any."""
    head, _, _ = key.partition(_SEPARATOR)
    return head


class Cleanup(StrEnum):
    """Kafka's `cleanup.policy` values that Vocation uses."""

    COMPACT = "compact"
    DELETE = "delete"
    COMPACT_DELETE = "compact,delete"
    """Deleted past the retention, and compacted: a tombstone removes a key's earlier records."""

    @property
    def compacts(self) -> bool:
        """Whether Kafka compacts the topic (a tombstone removes earlier records of its key)."""
        return self is not Cleanup.DELETE


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: its name, how many partitions, and how Kafka keeps its records."""

    name: str
    cleanup: Cleanup
    partitions: int = DEFAULT_PARTITIONS
    retention_ms: int | None = None
    holds_personal_contact_data: bool = False
    holds_personal_data: bool = False
    """Records name a person (a candidate id, contact data): erasure must reach them."""
    description: str = ""
    extra_config: dict[str, str] = field(default_factory=dict)
    record_id_field: str | None = None
    """The data field that, after the subject, makes a record's key (`<subject>/<record id>`)."""

    @property
    def dlq(self) -> str:
        """The dead-letter topic of this topic."""
        return self.name + DLQ_SUFFIX

    def kafka_config(self) -> dict[str, str]:
        """The topic-level configuration to create this topic with."""
        config = {"cleanup.policy": str(self.cleanup)}
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        if self.cleanup.compacts:
            # Keep tombstones long enough for every consumer to see an erasure.
            config["delete.retention.ms"] = str(WEEK_MS)
            # Facts (compact,delete) are safe from compaction for a week: see the module docstring.
            lag = FACTS_COMPACTION_LAG_MS if self.cleanup is Cleanup.COMPACT_DELETE else 0
            config["min.compaction.lag.ms"] = str(lag)
            # A superseded record (an erased person's) is compacted within a day of becoming
            # compactable, whatever the dirty ratio; the active segment, never compacted, rolls daily.
            config["max.compaction.lag.ms"] = str(lag + DAY_MS)
        if self.cleanup.compacts or self.holds_personal_data:
            config["segment.ms"] = str(DAY_MS)
        config.update(self.extra_config)
        return config


class Topic(StrEnum):
    """Names of the entity topics (see DESIGN.md's topic table)."""

    VACANCIES = "vacancies"
    CANDIDATES = "candidates"
    CANDIDATE_CONTACTS = "candidate-contacts"
    ESTABLISHMENTS = "establishments"
    TRAININGS = "trainings"
    IMMERSION_SLOTS = "immersion-slots"
    IMMERSION_BOOKINGS = "immersion-bookings"
    MATCHES = "matches"
    APPLICATIONS = "applications"
    NOTIFICATIONS = "notifications"


ENTITY_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(Topic.VACANCIES, Cleanup.COMPACT, description="Vacancies' full state, keyed by vacancy id."),
    TopicSpec(
        Topic.CANDIDATES,
        Cleanup.COMPACT,
        holds_personal_data=True,
        description="Candidate profiles without contact data, keyed by candidate id; tombstone on erasure.",
    ),
    TopicSpec(
        Topic.CANDIDATE_CONTACTS,
        Cleanup.COMPACT,
        holds_personal_contact_data=True,
        holds_personal_data=True,
        description="Email, phone and consent, keyed by candidate id; read by notifications only; tombstone on erasure.",
    ),
    TopicSpec(
        Topic.ESTABLISHMENTS,
        Cleanup.COMPACT,
        description="Employer sites, keyed by establishment id.",
    ),
    TopicSpec(Topic.TRAININGS, Cleanup.COMPACT, description="Training sessions, keyed by session id."),
    TopicSpec(
        Topic.IMMERSION_SLOTS,
        Cleanup.COMPACT,
        description="Immersion slots and places left, keyed by slot id.",
    ),
    TopicSpec(
        Topic.IMMERSION_BOOKINGS,
        Cleanup.COMPACT_DELETE,
        holds_personal_data=True,
        retention_ms=YEAR_MS,
        record_id_field="request_id",
        description=(
            "Immersion requests and their outcome, keyed `<slot id>/<request id>` and placed by slot id "
            "so a slot's requests stay in order; a tombstone per request of an erased candidate."
        ),
    ),
    TopicSpec(
        Topic.MATCHES,
        Cleanup.COMPACT_DELETE,
        holds_personal_data=True,
        retention_ms=4 * WEEK_MS,
        description="Matches found and withdrawn, keyed by candidate id; tombstone on erasure.",
    ),
    TopicSpec(
        Topic.APPLICATIONS,
        Cleanup.COMPACT_DELETE,
        holds_personal_data=True,
        retention_ms=YEAR_MS,
        record_id_field="application_id",
        description=(
            "Applications, their answers and withdrawals, and matches declined, keyed "
            "`<candidate id>/<application id>` and placed by candidate id so a candidate's facts stay "
            "in order; a tombstone per application of an erased candidate."
        ),
    ),
    TopicSpec(
        Topic.NOTIFICATIONS,
        Cleanup.COMPACT_DELETE,
        holds_personal_data=True,
        retention_ms=4 * WEEK_MS,
        description="Delivery outcomes, keyed by candidate id; tombstone on erasure.",
    ),
)


def dlq_spec(topic: TopicSpec) -> TopicSpec:
    """The dead-letter topic of `topic`: one partition suffices, kept a year for re-drive, or 30 days
    when its records are about people (erasure reaches dead letters by their retention)."""
    return TopicSpec(
        topic.dlq,
        Cleanup.DELETE,
        partitions=1,
        retention_ms=PERSONAL_DLQ_RETENTION_MS if topic.holds_personal_data else YEAR_MS,
        holds_personal_contact_data=topic.holds_personal_contact_data,
        holds_personal_data=topic.holds_personal_data,
        description=f"What consumers of `{topic.name}` could not process, with the reason in headers.",
    )


def all_topics(partitions: int | None = None) -> tuple[TopicSpec, ...]:
    """Every topic to create: entity topics then their dead-letter topics.

    `partitions` overrides the entity topics' partition count (tests use fewer).
    """
    entities = tuple(
        TopicSpec(
            t.name,
            t.cleanup,
            partitions=partitions or t.partitions,
            retention_ms=t.retention_ms,
            holds_personal_contact_data=t.holds_personal_contact_data,
            holds_personal_data=t.holds_personal_data,
            description=t.description,
            extra_config=t.extra_config,
            record_id_field=t.record_id_field,
        )
        for t in ENTITY_TOPICS
    )
    return entities + tuple(dlq_spec(t) for t in entities)


def personal_topics() -> tuple[str, ...]:
    """The entity topics whose records are about people (erasure must reach them)."""
    return tuple(str(t.name) for t in ENTITY_TOPICS if t.holds_personal_data)


def record_key(topic: str, subject: str, data: Any) -> str:
    """The Kafka key of an event's record: its subject, or `<subject>/<record id>` (see the docstring).

    `data` is the event's data (a model or a mapping).
    """
    field_name = _RECORD_ID_FIELDS.get(topic)
    if field_name is None:
        return subject
    record_id = data.get(field_name) if isinstance(data, dict) else getattr(data, field_name)
    return f"{subject}{KEY_SEPARATOR}{record_id}"


_RECORD_ID_FIELDS: dict[str, str] = {
    str(t.name): t.record_id_field for t in ENTITY_TOPICS if t.record_id_field is not None
}


def spec_of(name: str) -> TopicSpec:
    """The registry entry of a topic, by name (entity or dead-letter topic)."""
    for spec in all_topics():
        if spec.name == name:
            return spec
    raise KeyError(f"unknown topic: {name}")
