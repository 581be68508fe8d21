"""Every port of the application layer (`handlers/`): the unit of work and its repositories (claims,
erasures, archive), the Kafka sink, webhook deliveries and their transport, dead letters, metrics
(Protocols; `adapters/` implements them, `testing/fakes.py` holds the in-memory fakes)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from vocation_shared.unit_of_work import Transactional

from vocation_events.core.dead_letters import DeadLetter
from vocation_events.core.ingestion import Record
from vocation_events.core.ownership import Ref, Refusal
from vocation_events.core.partners import Partner
from vocation_events.core.webhooks import Subscription


class Unavailable(Exception):
    """A dependency (Kafka or PostgreSQL) cannot take the write now: nothing was accepted."""


class Claims(NamedTuple):
    """The events of one request the gateway is about to accept, as columns.

    Every event of a request has the partner's one `source` (the gateway refuses any other), so
    the idempotency keys are `(source, ids[i])`; `types[i]` says what each is;
    `refs[i]` are the entities the i-th event names, which its source must own (or claims).
    """

    source: str
    partner: str
    ids: Sequence[str]
    types: Sequence[str]
    refs: Sequence[Sequence[Ref]] = ()


class Claim(NamedTuple):
    """What a claim found: the events refused (by index in the claims) for naming an entity another
    source owns (not claimed), and the ids already claimed before (duplicates); the others were won."""

    taken: frozenset[str]
    refused: Mapping[int, Refusal]


class ClaimRepository(Protocol):
    """Idempotency of (source, id) and owners of entities, durable and safe under concurrency.

    A claim holds its keys and new entities until its unit of work ends: a concurrent claim of the
    same key or new entity waits until then, and nothing is claimed if the unit rolls back.
    """

    async def claim(self, claims: Claims) -> Claim:
        """Check and claim the entities the events name, then claim the keys (distinct ids) of the
        events not refused. The first statement of its unit of work."""
        ...

    async def release_candidate(self, candidate_id: str) -> None:
        """An erased person leaves no owner behind: the candidate id is free again."""
        ...


class ErasureRepository(Protocol):
    """The ledger of erased candidates (kept by pseudonym), and the erasures not yet applied."""

    async def record(self, candidate_id: str, source: str, event_id: str) -> None:
        """Record an erasure (applied to the archive later, by the eraser); nothing if recorded already."""
        ...

    async def pending(self, limit: int) -> list[str]:
        """The candidate ids of up to `limit` erasures not applied yet, oldest first."""
        ...

    async def count_pending(self) -> int:
        """How many erasures are recorded and not applied yet."""
        ...

    async def applied(self, candidate_ids: Sequence[str]) -> None:
        """Mark these erasures applied: the ledger forgets their ids and keeps the pseudonyms."""
        ...

    async def erased_among(self, candidate_ids: Collection[str]) -> set[str]:
        """The ids among `candidate_ids` that were erased (applied or not: found by pseudonym)."""
        ...


ArchiveRow = tuple[str, int, int, str, str, str, str, datetime, str, str | None]
"""(topic, partition, offset, source, id, type, subject, time, event JSON, candidate id or None)."""


class ArchiveRepository(Protocol):
    """The append-only archive of the events read from the entity topics."""

    async def store(self, rows: Sequence[ArchiveRow]) -> int:
        """Store rows; how many were new (an archived (source, id) or an erased candidate's are skipped).

        An erasure committing meanwhile is either seen or waits for this unit of work to end.
        """
        ...

    async def forget(self, topic: str, subject: str, of_record: tuple[str, str] | None = None) -> int:
        """A tombstone was read: delete the archived events of `subject` on `topic` (only those whose
        `data.<field>` is the record id, with `of_record` = (field, id)); how many."""
        ...

    async def delete_of_candidates(self, candidate_ids: Sequence[str], limit: int) -> int:
        """Delete at most `limit` archived rows about these candidates; how many."""
        ...


class UnitOfWork(Transactional, Protocol):
    """The repositories bound to one transaction: committed when the `async with` block ends
    normally, rolled back when it raises. Raises `Unavailable` when the database cannot be reached."""

    @property
    def claims(self) -> ClaimRepository: ...

    @property
    def erasures(self) -> ErasureRepository: ...

    @property
    def archive(self) -> ArchiveRepository: ...


class UnitsOfWork(Protocol):
    """Makes units of work (`async with units() as uow:`)."""

    def __call__(self) -> UnitOfWork:
        """A new unit of work, begun on entering it."""
        ...


class OwnedEntity(NamedTuple):
    """An entity a partner source owns, and since when."""

    kind: str
    entity_id: str
    since: datetime


class Owners(Protocol):
    """The owners of entities, as partners read them."""

    async def owned(self, source: str, kind: str, after: str | None, limit: int) -> list[OwnedEntity]:
        """The entities of `kind` that `source` owns, by id, those after the id `after`, `limit` at most."""
        ...


class Metrics(Protocol):
    """What the application layer counts (Prometheus in production: `adapters/metrics.py`)."""

    def count(self, outcome: str, event_type: object, partner: str, n: int = 1) -> None:
        """`n` events of one type received from a partner ended `accepted`, `duplicate` or `rejected`."""
        ...

    def published(self, seconds: float) -> None:
        """One request's records took `seconds` from the first send to the last acknowledgement."""
        ...

    def archived(self, topic: str, n: int) -> None:
        """`n` events of `topic` were stored in the archive."""
        ...


class RawRecord(Protocol):
    """A record read from Kafka as bytes (aiokafka's `ConsumerRecord` is one); `value` None is a tombstone."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


class DeadLetters(Protocol):
    """Where a consumer sends a record that is not an event of its topic (with the reason)."""

    async def reject(self, record: RawRecord) -> None:
        """Dead-letter `record` by the shared consumer's rules (the reason found again, logged)."""
        ...


class DeadLetterQueue(Protocol):
    """One dead-letter topic read by the re-drive's consumer group."""

    @property
    def original_topic(self) -> str:
        """The topic its letters came from (and go back to)."""
        ...

    async def pending(self) -> list[DeadLetter]:
        """The letters not re-driven yet (past the group's committed offsets), by partition and offset."""
        ...

    async def commit(self, next_offsets: Mapping[int, int]) -> None:
        """Commit the group's position: the next offset to read, per partition."""
        ...


class EventSink(Protocol):
    """Where accepted events go: Kafka, acknowledged by every in-sync replica."""

    async def write(self, records: Sequence[Record]) -> None:
        """Write the records (in order per key) and return once all are acknowledged.

        Raises `Unavailable` when the broker cannot take them.
        """
        ...


class PartnerStore(Protocol):
    """The partners and their hashed API keys."""

    async def by_key_hash(self, key_hash: bytes) -> Partner | None:
        """The active partner holding this key, or None (unknown or revoked)."""
        ...


@dataclass(frozen=True, slots=True)
class ArchivedEvent:
    """One archived event with where it was read."""

    topic: str
    partition: int
    offset: int
    event: dict[str, Any]
    archived_at: datetime


class RateLimits(Protocol):
    """Each partner's token bucket (events per second, with a burst)."""

    async def take(self, partner: str, rate: float | None, burst: float | None, cost: int) -> float:
        """Charge `cost` events; 0.0 when allowed, else the seconds to wait (nothing is charged then)."""
        ...

    async def available(self, partner: str, rate: float | None, burst: float | None) -> float:
        """How many events the partner could send now (nothing is charged)."""
        ...


class RefusedTarget(Exception):
    """A webhook's host is, or resolves to, an address webhooks may not reach: never retried."""


class WebhookUnreachable(Exception):
    """A webhook POST got no answer (connection refused, timeout, TLS…): the message says what."""


class WebhookClient(Protocol):
    """POSTs deliveries to partners' URLs (only to addresses allowed: `RefusedTarget` otherwise)."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """The answer's status code; raises `RefusedTarget` or `WebhookUnreachable`."""
        ...

    async def aclose(self) -> None:
        """Close the connections."""
        ...


DeliveryRow = tuple[str, str, str, str, str, bytes]
"""(subscription id, source, event id, subject, type, body) of a delivery to queue."""


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery claimed for one attempt."""

    seq: int
    event_id: str
    attempts: int
    body: bytes
    url: str
    secret: str
    """As stored: sealed (`WebhookDeliveries.secret` opens it)."""
    subscription_id: str


class WebhookDeliveries(Protocol):
    """Active subscriptions and their queue of deliveries; each operation is one atomic statement."""

    async def active(self) -> list[Subscription]:
        """Subscriptions that receive: not stopped, of a partner not revoked."""
        ...

    async def enqueue(self, rows: Sequence[DeliveryRow]) -> int:
        """Queue deliveries in order, once each (a redelivered event queues nothing); how many were new."""
        ...

    async def owners_of(self, vacancy_ids: Collection[str]) -> dict[str, str]:
        """The source that owns each of these vacancies now (an unowned one is absent)."""
        ...

    async def erase(self, candidate_ids: Sequence[str]) -> int:
        """Delete the deliveries of applications about these candidates, sent or not; how many."""
        ...

    async def claim(self, limit: int, lease_s: float) -> list[Due]:
        """Due deliveries, each the earliest pending one of its entity for its subscription, leased."""
        ...

    def secret(self, subscription_id: str, stored: str) -> str:
        """A subscription's signing secret from its stored form; `ContactKeyError` if it does not open."""
        ...

    async def delivered(self, seq: int) -> None:
        """The partner answered 2xx."""
        ...

    async def attempt_failed(self, seq: int, error: str, retry_in_s: float | None) -> None:
        """Try again in `retry_in_s`, or give up (`failed`) when None."""
        ...
