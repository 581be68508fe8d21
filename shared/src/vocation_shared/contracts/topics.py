"""The topic registry: every Kafka topic of Vocation, its partitions and cleanup policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

DLQ_SUFFIX = ".dlq"
DEFAULT_PARTITIONS = 6
WEEK_MS = 7 * 24 * 3600 * 1000
YEAR_MS = 365 * 24 * 3600 * 1000


class Cleanup(StrEnum):
    """Kafka's `cleanup.policy` values that Vocation uses."""

    COMPACT = "compact"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: its name, how many partitions, and how Kafka keeps its records."""

    name: str
    cleanup: Cleanup
    partitions: int = DEFAULT_PARTITIONS
    retention_ms: int | None = None
    holds_personal_contact_data: bool = False
    description: str = ""
    extra_config: dict[str, str] = field(default_factory=dict)

    @property
    def dlq(self) -> str:
        """The dead-letter topic of this topic."""
        return self.name + DLQ_SUFFIX

    def kafka_config(self) -> dict[str, str]:
        """The topic-level configuration to create this topic with."""
        config = {"cleanup.policy": str(self.cleanup)}
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        if self.cleanup is Cleanup.COMPACT:
            # Keep tombstones long enough for every consumer to see an erasure.
            config["delete.retention.ms"] = str(WEEK_MS)
            config["min.compaction.lag.ms"] = "0"
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
    NOTIFICATIONS = "notifications"


ENTITY_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(Topic.VACANCIES, Cleanup.COMPACT, description="Vacancies' full state, keyed by vacancy id."),
    TopicSpec(
        Topic.CANDIDATES,
        Cleanup.COMPACT,
        description="Candidate profiles without contact data, keyed by candidate id; tombstone on erasure.",
    ),
    TopicSpec(
        Topic.CANDIDATE_CONTACTS,
        Cleanup.COMPACT,
        holds_personal_contact_data=True,
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
        Cleanup.DELETE,
        retention_ms=YEAR_MS,
        description="Immersion requests and their outcome, keyed by slot id so a slot's requests stay in order.",
    ),
    TopicSpec(
        Topic.MATCHES,
        Cleanup.DELETE,
        retention_ms=4 * WEEK_MS,
        description="Matches found and withdrawn, keyed by candidate id.",
    ),
    TopicSpec(
        Topic.NOTIFICATIONS,
        Cleanup.DELETE,
        retention_ms=4 * WEEK_MS,
        description="Delivery outcomes, keyed by candidate id.",
    ),
)


def dlq_spec(topic: TopicSpec) -> TopicSpec:
    """The dead-letter topic of `topic`: one partition suffices, kept a long time for re-drive."""
    return TopicSpec(
        topic.dlq,
        Cleanup.DELETE,
        partitions=1,
        retention_ms=YEAR_MS,
        holds_personal_contact_data=topic.holds_personal_contact_data,
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
            description=t.description,
            extra_config=t.extra_config,
        )
        for t in ENTITY_TOPICS
    )
    return entities + tuple(dlq_spec(t) for t in entities)


def spec_of(name: str) -> TopicSpec:
    """The registry entry of a topic, by name (entity or dead-letter topic)."""
    for spec in all_topics():
        if spec.name == name:
            return spec
    raise KeyError(f"unknown topic: {name}")
