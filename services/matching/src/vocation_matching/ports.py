"""Every port of the application layer (Protocols): the ledger, what was learned (refusals, hires) and
their unit of work, the match events publisher, the metrics and the clock. PostgreSQL, Kafka and Prometheus adapters implement them;
`testing/fakes.py` holds the in-memory fakes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from vocation_shared.contracts.vocabulary import MatchWithdrawalReason, OfferKind
from vocation_shared.unit_of_work import Transactional

from vocation_matching.core.learning import Lesson
from vocation_matching.core.model import Match, OfferKey, OfferSource, Withdrawal


class Ledger(Protocol):
    """The matches emitted so far, so that none is emitted twice (bound to one unit of work)."""

    async def record(self, matches: Sequence[Match], today: date) -> list[Match]:
        """Record, in their order, the matches never emitted before (same candidate, offer and version),
        not blocked by a standing match with the same material content (fingerprint), within the
        daily caps; return those recorded. `matches` may span many offers and candidates."""
        ...

    async def withdraw_offer(
        self, source: OfferSource, offer_id: str, reason: MatchWithdrawalReason
    ) -> list[Withdrawal]:
        """Withdraw every standing match of an offer; return them."""
        ...

    async def withdraw_candidate(self, candidate_id: str, reason: MatchWithdrawalReason) -> list[Withdrawal]:
        """Withdraw every standing match of a candidate; return them."""
        ...

    async def withdraw_pairs(
        self, source: OfferSource, offer_id: str, candidate_ids: Sequence[str], reason: MatchWithdrawalReason
    ) -> list[Withdrawal]:
        """Withdraw the standing matches of an offer for some candidates; return them."""
        ...

    async def withdraw_candidate_pairs(
        self, candidate_id: str, offers: Sequence[OfferKey], reason: MatchWithdrawalReason
    ) -> list[Withdrawal]:
        """Withdraw a candidate's standing matches with some offers; return them."""
        ...

    async def forget_candidate(self, candidate_id: str) -> None:
        """Delete every row of a candidate (erasure)."""
        ...

    async def standing_candidates(self, source: OfferSource, offer_id: str, before_version: int) -> list[str]:
        """Candidates with a standing match of an older version of the offer."""
        ...

    async def standing_offers_of(self, candidate_ids: Sequence[str]) -> dict[str, list[OfferKey]]:
        """The offers each of these candidates has a standing match with."""
        ...


@dataclass(frozen=True, slots=True)
class Learned:
    """Refusals (candidate id, lesson) and hires (vacancy id, application id) read back, and when."""

    declines: list[tuple[str, Lesson]]
    hires: list[tuple[str, str]]
    read_at: datetime


class Learning(Protocol):
    """The refusals and hires matching learns from, kept so that a restart keeps them (one unit of work)."""

    async def record_decline(self, event_id: str, candidate_id: str, lesson: Lesson) -> Lesson:
        """Keep a candidate's refusal of an offer with the event that said it; the first refusal of a
        pair wins (a replay changes nothing): return the lesson kept."""
        ...

    async def record_hire(self, event_id: str, application_id: str, vacancy_id: str) -> bool:
        """Count a hire through the platform once per application; False when it was already counted."""
        ...

    async def forget_candidate(self, candidate_id: str) -> None:
        """Delete a candidate's refusals (withdrawal or erasure); their hires stay counted."""
        ...

    async def since(self, moment: datetime | None) -> Learned:
        """The refusals and hires recorded since a little before `moment` (everything with None)."""
        ...


class UnitOfWork(Transactional, Protocol):
    """One transaction: `async with units() as uow:` commits when the block ends, rolls back when it raises."""

    @property
    def ledger(self) -> Ledger: ...

    @property
    def learning(self) -> Learning: ...


class UnitsOfWork(Protocol):
    """Makes a new unit of work, begun on entering it."""

    def __call__(self) -> UnitOfWork: ...


class MatchEvents(Protocol):
    """Publishes the `matches` topic's facts (acks=all); each call returns once every record is acknowledged."""

    async def found(self, matches: Sequence[Match]) -> None:
        """The `match-found` event of each match, in order."""
        ...

    async def withdrawn(
        self, withdrawals: Sequence[Withdrawal], reason: MatchWithdrawalReason, *, erased: str | None = None
    ) -> None:
        """The `match-withdrawn` event of each withdrawal, then, with `erased`, a tombstone of that
        candidate (it comes after their withdrawals: same key, same partition)."""
        ...


class Metrics(Protocol):
    """What the application layer counts."""

    def matched(self, direction: str, seconds: float) -> None:
        """One offer's or candidate's best matches were found in `seconds` (direction: offer, candidate)."""
        ...

    def emitted(self, kind: OfferKind, count: int) -> None:
        """`count` match-found events of this offer kind published."""
        ...

    def withdrawn(self, reason: MatchWithdrawalReason, count: int) -> None:
        """`count` match-withdrawn events published for this reason."""
        ...

    def reacted(self, direction: str, count: int) -> None:
        """`count` events handled to the end (their matches recorded and acknowledged)."""
        ...


class Clock(Protocol):
    """Today's date where the platform lives."""

    def today(self) -> date:
        """The current date."""
        ...
