"""The interfaces the gateway depends on: partners, idempotency claims, the Kafka sink, the archive."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from vocation_events.core.ingestion import Record
from vocation_events.core.partners import Partner


class Unavailable(Exception):
    """A dependency (Kafka or PostgreSQL) cannot take the write now: nothing was accepted."""


class Claims(NamedTuple):
    """The events of one request the gateway is about to accept, as columns.

    Every event of a request has the partner's one `source` (the gateway refuses any other), so
    the idempotency keys are `(source, ids[i])`; `types[i]` and `subjects[i]` say what each is about.
    """

    source: str
    partner: str
    ids: Sequence[str]
    types: Sequence[str]
    subjects: Sequence[str]


class ClaimTransaction(Protocol):
    """An open claim: the keys it won are held until it ends; it commits only if no error escaped."""

    @property
    def taken(self) -> frozenset[str]:
        """The ids that were already claimed (accepted before: duplicates); all the others were won."""
        ...

    async def erase_candidate(self, candidate_id: str, source: str, event_id: str) -> None:
        """Forget the archived personal data of a candidate, in the same transaction."""
        ...


class ClaimStore(Protocol):
    """Idempotency of (source, id), durable across restarts and safe under concurrency."""

    def claim(self, claims: Claims) -> AbstractAsyncContextManager[ClaimTransaction]:
        """Claim the keys (distinct ids); a concurrent claim of the same key waits until this one ends."""
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
