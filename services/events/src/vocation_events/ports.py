"""The interfaces the gateway depends on: partners, idempotency claims, the Kafka sink, the archive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from vocation_events.core.ingestion import Record
from vocation_events.core.ownership import Ref, Refusal
from vocation_events.core.partners import Partner


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


class ClaimTransaction(Protocol):
    """An open claim: the keys it won are held until it ends; it commits only if no error escaped."""

    @property
    def refused(self) -> Mapping[int, Refusal]:
        """The events (by index in the claims) naming an entity another source owns: not claimed."""
        ...

    @property
    def taken(self) -> frozenset[str]:
        """The ids that were already claimed (accepted before: duplicates); all the others not refused were won."""
        ...

    async def erase_candidate(self, candidate_id: str, source: str, event_id: str) -> None:
        """Forget the archived personal data of a candidate, in the same transaction."""
        ...


class ClaimStore(Protocol):
    """Idempotency of (source, id) and owners of entities, durable and safe under concurrency."""

    def claim(self, claims: Claims) -> AbstractAsyncContextManager[ClaimTransaction]:
        """Check and claim the entities the events name, then claim the keys (distinct ids) of the
        events not refused; a concurrent claim of the same key or new entity waits until this one ends."""
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
