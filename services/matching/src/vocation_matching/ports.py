"""Interfaces the reactions depend on: the ledger of emitted matches and the clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from vocation_shared.contracts.vocabulary import MatchWithdrawalReason

from vocation_matching.core.model import Match, OfferKey, OfferSource


class MatchLedger(Protocol):
    """Remembers every match emitted, so that none is emitted twice, and publishes them."""

    async def emit(self, matches: Sequence[Match], today: date) -> list[Match]:
        """Record the matches not emitted before (within the daily caps) and publish them, all in one
        transaction whose events are acknowledged before it commits; return those emitted.

        `matches` may span many offers and candidates (every match of a batch of events), in order.
        """
        ...

    async def withdraw_offer(self, source: OfferSource, offer_id: str, reason: MatchWithdrawalReason) -> int:
        """Withdraw every standing match of an offer; return how many."""
        ...

    async def withdraw_candidate(
        self, candidate_id: str, reason: MatchWithdrawalReason, *, erase: bool
    ) -> int:
        """Withdraw every standing match of a candidate (and forget them on erasure); return how many."""
        ...

    async def standing_candidates(self, source: OfferSource, offer_id: str, before_version: int) -> list[str]:
        """Candidates with a standing match of an older version of the offer."""
        ...

    async def withdraw_pairs(
        self, source: OfferSource, offer_id: str, candidate_ids: Sequence[str], reason: MatchWithdrawalReason
    ) -> int:
        """Withdraw the standing matches of an offer for some candidates; return how many."""
        ...

    async def standing_offers_of(self, candidate_ids: Sequence[str]) -> dict[str, list[OfferKey]]:
        """The offers each of these candidates has a standing match with."""
        ...

    async def withdraw_candidate_pairs(
        self, candidate_id: str, offers: Sequence[tuple[OfferSource, str]], reason: MatchWithdrawalReason
    ) -> int:
        """Withdraw a candidate's standing matches with some offers; return how many."""
        ...


class Clock(Protocol):
    """Today's date where the platform lives."""

    def today(self) -> date:
        """The current date."""
        ...
