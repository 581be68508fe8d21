"""Interfaces the catalogue's handlers and HTTP API depend on; adapters implement them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import AnyEvent

from vocation_catalogue.core.observatory import NeedCounts, ObservatoryQuery
from vocation_catalogue.core.projection import Row
from vocation_catalogue.core.search import SearchQuery


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A tombstone to write on `topic`: compaction removes every earlier record of `key`."""

    topic: str
    key: str


Fact = AnyEvent | Tombstone
"""What a handler publishes: an event, or a tombstone (an erased candidate's request)."""


class EventSink(Protocol):
    """Where the catalogue's own events go (Kafka in production)."""

    async def publish(self, event: AnyEvent) -> None:
        """Publish one event; returns once the broker acknowledged it."""
        ...

    async def tombstone(self, topic: str, key: str) -> None:
        """Write a tombstone of `key` on `topic`; returns once the broker acknowledged it."""
        ...


class ReadModelStore(Protocol):
    """The read models: rows applied once per event, never older over newer."""

    async def apply(self, row: Row, event: AnyEvent) -> bool:
        """Apply `row` as the effect of `event`; False when the event was already applied or stale."""
        ...

    async def fill_vacancy(self, vacancy_id: str, at: datetime, event: AnyEvent) -> bool:
        """Mark an open vacancy filled because its shift was taken; False when done already or not open."""
        ...

    async def apply_slot(self, event: AnyEvent) -> list[AnyEvent]:
        """Apply an owner's immersion-slot event, reconciling it with the bookings; what to publish."""
        ...

    async def erase(self, table: str, id: str) -> None:
        """Remove an entity whose key was tombstoned on its compacted topic."""
        ...

    async def has_slot(self, slot_id: str) -> bool:
        """Whether the read model holds this immersion slot (in any status)."""
        ...


class SlotFeed(Protocol):
    """The catalogue's reading of `immersion-slots`, seen from the bookings (another topic)."""

    async def behind(self, slot_id: str, request_id: str) -> bool:
        """Whether events of this slot published before the request was first seen may be unread yet.

        Raises `TransientError` when the broker cannot tell.
        """
        ...


class BookingStore(Protocol):
    """Immersion bookings, decided under a lock on the slot, with their outcome kept for replays."""

    async def request(self, event: ev.ImmersionRequested) -> list[Fact]:
        """Decide a request (or find its earlier outcome); the facts to publish, in order.

        An erased candidate's request is not decided: its tombstone is the fact to publish."""
        ...

    async def cancel(self, event: ev.ImmersionCancelled) -> list[Fact]:
        """Give the place of a booking back (or find the earlier effect); the facts to publish."""
        ...

    async def erase_candidate(self, candidate_id: str) -> list[Fact]:
        """Forget an erased candidate's bookings and requests; the slots' new states and the
        tombstones of their requests on `immersion-bookings`, to publish."""
        ...


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of results: each item with its distance, and the cursor of the next page."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class OfferSearch(Protocol):
    """Queries on the read models."""

    async def search(self, query: SearchQuery) -> SearchPage:
        """The page of results of a validated query."""
        ...

    async def get(self, catalogue: str, id: str) -> dict[str, Any] | None:
        """One vacancy, immersion slot or training session by id (whatever its status), or None."""
        ...


class Observatory(Protocol):
    """Aggregates of the read models for the observatory of recruitment needs."""

    async def needs(self, query: ObservatoryQuery) -> tuple[list[NeedCounts], datetime]:
        """Each catalogue's figures per département and métier (parts for `core.observatory.report`), and when."""
        ...
