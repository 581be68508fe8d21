"""Interfaces the catalogue's handlers and HTTP API depend on; adapters implement them."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.vocabulary import MatchDeclineReason
from vocation_shared.facts import Fact
from vocation_shared.unit_of_work import Transactional

from vocation_catalogue.core.applications import (
    Application,
    ApplicationView,
    EmployerAnswer,
    MatchView,
    Offer,
    Outcome,
)
from vocation_catalogue.core.booking import DateRange
from vocation_catalogue.core.observatory import NeedCounts, ObservatoryQuery
from vocation_catalogue.core.pair_matches import Pair, PairChange
from vocation_catalogue.core.projection import Row
from vocation_catalogue.core.search import SearchQuery


class RetryLater(Exception):
    """The event cannot be handled yet (what it needs may be on its way): handle it again later.

    The Kafka adapter retries it with backoff, as any transient failure (`TransientError`)."""


@dataclass(frozen=True, slots=True)
class HeldBooking:
    """A booking as the erasure finds it: which request, on which slot, booked or not, until when."""

    request_id: str
    slot_id: str
    booked: bool
    end_date: date


class EventSink(Protocol):
    """Where the catalogue's own events go (Kafka in production)."""

    async def publish(self, event: AnyEvent) -> None:
        """Publish one event; returns once the broker acknowledged it."""
        ...

    async def tombstone(self, topic: str, key: str) -> None:
        """Write a tombstone of `key` on `topic`; returns once the broker acknowledged it."""
        ...


class ReadModels(Protocol):
    """The read-model tables (establishments, vacancies, trainings, slots, candidate supply)."""

    async def upsert(self, row: Row) -> bool:
        """Insert or replace `row` unless the stored version is the same or newer; True if written."""
        ...

    async def fill_vacancy(self, vacancy_id: str, at: datetime) -> bool:
        """Mark an open vacancy filled (its shift was taken); False when it is not open."""
        ...

    async def has_slot(self, slot_id: str) -> bool:
        """Whether the read model holds this immersion slot (in any status)."""
        ...

    async def slot(self, slot_id: str) -> p.ImmersionSlot | None:
        """An immersion slot's state, its row locked until the unit of work ends; None if unknown."""
        ...

    async def slot_versions(self, slot_id: str) -> tuple[int, int] | None:
        """A slot's (version, owner's last version), its row locked; None if unknown."""
        ...

    async def erase(self, table: str, id: str) -> None:
        """Remove an entity whose key was tombstoned (or a withdrawn candidate's supply)."""
        ...

    async def vacancy_offer(self, vacancy_id: str) -> Offer | None:
        """What an application needs of a vacancy (kind, open or not, département, métier), its row
        locked: a vacancy is locked before its applications; None if unknown."""
        ...

    async def candidate_summary(self, candidate_id: str) -> p.CandidateSummary | None:
        """What the employer reads of a known candidate (no distance or reasons); None if unknown."""
        ...

    async def count_hire(self, vacancy_id: str, at: datetime) -> bool:
        """Count one hire through the platform; True when it fills the vacancy (leaves the search)."""
        ...

    async def settle_hires(self, vacancy_id: str, at: datetime) -> bool:
        """Mark an open vacancy filled when its platform hires reach its posts; True if it did."""
        ...


class Bookings(Protocol):
    """Immersion bookings, decided one at a time per slot and per candidate (locks held to the end)."""

    async def lock_slot(self, slot_id: str) -> None:
        """Wait for, then hold, the slot's lock: taken before the candidate's."""
        ...

    async def lock_candidate(self, candidate_id: str) -> None:
        """Wait for, then hold, the candidate's lock (their bookings on other slots)."""
        ...

    async def held_dates(self, candidate_id: str) -> list[DateRange]:
        """The dates of the candidate's current bookings, on any slot."""
        ...

    async def booked_on(self, slot_id: str) -> int:
        """How many places of the slot are booked."""
        ...

    async def add(self, request: p.ImmersionRequest, at: datetime) -> None:
        """Record a booked request."""
        ...

    async def holder(self, request_id: str, slot_id: str) -> tuple[str, bool] | None:
        """Who holds the request's booking and whether it is still booked; None if none."""
        ...

    async def cancel(self, request_id: str, at: datetime) -> None:
        """Mark the request's booking cancelled."""
        ...

    async def slots_of(self, candidate_id: str) -> list[str]:
        """The slots the candidate has bookings on (any status), each once, sorted."""
        ...

    async def delete_of(self, candidate_id: str) -> list[HeldBooking]:
        """Delete the candidate's bookings; what they were."""
        ...


class Outcomes(Protocol):
    """The facts published for a request, a cancellation, an erasure or a slot event, kept to
    republish the same ones on a redelivery."""

    async def earlier(self, key: str) -> list[Fact] | None:
        """The facts kept for `key` (events then tombstones), or None."""
        ...

    async def keep(self, key: str, facts: Sequence[Fact]) -> None:
        """Keep the facts of a new `key`."""
        ...

    async def replace(self, key: str, facts: Sequence[Fact]) -> None:
        """Keep the facts of `key`, replacing what was kept (tombstones each once)."""
        ...

    async def blank_candidate(self, candidate_id: str) -> set[tuple[str, str]]:
        """Empty the events of every outcome of the candidate (its key and tombstones stay);
        the (slot id, request id) of the requests they told."""
        ...


class Erasures(Protocol):
    """The erased candidates, by pseudonym."""

    async def erased(self, pseudonym: str) -> bool:
        """Whether the candidate of this pseudonym was erased."""
        ...

    async def erased_among(self, pseudonyms: Collection[str]) -> frozenset[str]:
        """Which of these pseudonyms are of erased candidates."""
        ...

    async def remember(self, pseudonym: str) -> None:
        """Remember the candidate of this pseudonym as erased (again: nothing)."""
        ...


class ApplicationRecords(Protocol):
    """The `applications` rows, one per (candidate, offer) pair; each read row locked to the end."""

    async def get(self, candidate_id: str, offer_id: str) -> Application | None:
        """The pair's row, locked; None if there is none."""
        ...

    async def hold(self, blank: Application) -> Application:
        """The pair's row, locked, written first as `blank` when there is none (two submits at once
        wait for each other: one row)."""
        ...

    async def save(self, record: Application) -> None:
        """Write the pair's new state (its row is held)."""
        ...

    async def pending_of(self, offer_id: str) -> list[Application]:
        """The offer's applications waiting on the employer, locked, by id."""
        ...

    async def due(self, today: date, limit: int) -> list[Application]:
        """Applications still unanswered on their `answer_due` day or later, locked (rows held
        elsewhere skipped), at most `limit`."""
        ...

    async def delete_of(self, candidate_id: str) -> list[str]:
        """Delete the candidate's rows; their application ids, sorted."""
        ...


class PairMatches(Protocol):
    """The standing match of each pair, from `matches`."""

    async def apply(self, changes: Mapping[Pair, PairChange]) -> None:
        """Apply one net change per pair (`core.pair_matches`: keep, forget, forget if still it)."""
        ...

    async def get(self, candidate_id: str, offer_id: str) -> MatchView | None:
        """The pair's standing match, or None."""
        ...

    async def delete_of(self, candidate_id: str) -> None:
        """Forget every match of the candidate."""
        ...


class Outbox(Protocol):
    """The applications' facts to publish, committed with the state they tell (relayed in order)."""

    async def queue(self, facts: Sequence[Fact]) -> None:
        """Queue events and tombstones, in order, in this unit of work."""
        ...


class ProcessedEvents(Protocol):
    """Which events each consumer applied already."""

    async def mark(self, consumer: str, source: str, event_id: str) -> bool:
        """Mark the event processed; False when it was already."""
        ...


class UnitOfWork(Transactional, Protocol):
    """The repositories bound to one transaction (see `UnitsOfWork`)."""

    @property
    def read_models(self) -> ReadModels: ...

    @property
    def bookings(self) -> Bookings: ...

    @property
    def outcomes(self) -> Outcomes: ...

    @property
    def erasures(self) -> Erasures: ...

    @property
    def processed(self) -> ProcessedEvents: ...

    @property
    def applications(self) -> ApplicationRecords: ...

    @property
    def matches(self) -> PairMatches: ...

    @property
    def outbox(self) -> Outbox: ...


class UnitsOfWork(Protocol):
    """Opens units of work: `async with units() as uow:` begins a transaction, commits it when the
    block ends normally and rolls it back when the block raises."""

    def __call__(self) -> UnitOfWork:
        """A new unit of work, begun on entering it."""
        ...


class SlotFeed(Protocol):
    """The catalogue's reading of `immersion-slots`, seen from the bookings (another topic)."""

    async def behind(self, slot_id: str, request_id: str) -> bool:
        """Whether events of this slot published before the request was first seen may be unread yet.

        Raises a transient error when the broker cannot tell (the event is retried).
        """
        ...


class Metrics(Protocol):
    """What the handlers count."""

    def event_handled(self, type: str, outcome: str) -> None:
        """An entity event applied, skipped (seen or stale) or handled (a slot's)."""
        ...

    def immersion_outcome(self, outcome: str) -> None:
        """An outcome published for an immersion request (booked, refused, erased)."""
        ...

    def request_waited(self) -> None:
        """A request put back because its slot may not be read yet."""
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


class ApplicationDesk(Protocol):
    """What the pages ask of the application layer: read a pair's state, act on a confirmed click.

    Every command is idempotent on the state: a second identical call returns the same view with
    `changed=False` and publishes nothing new. Implemented by `handlers.Applications`; faked by
    `testing.pages_fakes.FakeApplicationDesk` for the pages' unit tests.
    """

    async def view(self, candidate_id: str, offer_id: str) -> ApplicationView:
        """The pair's state (`NONE` when nothing happened yet)."""
        ...

    async def match(self, candidate_id: str, offer_id: str) -> MatchView | None:
        """The pair's standing match (distance, reasons), None when there is none."""
        ...

    async def submit(
        self, candidate_id: str, offer_id: str, *, message: str | None, share_email: bool, share_phone: bool
    ) -> Outcome:
        """« Je suis intéressé(e) », confirmed: publishes `application.submitted` once."""
        ...

    async def decline_match(
        self, candidate_id: str, offer_id: str, reason: MatchDeclineReason | None
    ) -> Outcome:
        """« Pas pour moi », confirmed: publishes `match.declined` once."""
        ...

    async def withdraw(self, candidate_id: str, offer_id: str) -> Outcome:
        """The candidate withdraws: publishes `application.withdrawn` (`candidate`) once."""
        ...

    async def answer(self, candidate_id: str, offer_id: str, answer: EmployerAnswer) -> Outcome:
        """The employer's one-click answer, confirmed: publishes `application.answered` once."""
        ...
