"""The in-memory state every instance rebuilds from the compacted topics: candidates and offers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic

from vocation_matching.core.index import DEFAULT_CELL_SCALE, CandidateIndex, OfferBook
from vocation_matching.core.model import (
    Offer,
    OfferKey,
    OfferSource,
    candidate_from_profile,
    offer_from_immersion,
    offer_from_training,
    offer_from_vacancy,
)

SOURCE_OF_TOPIC: dict[str, OfferSource] = {
    Topic.VACANCIES: OfferSource.VACANCY,
    Topic.IMMERSION_SLOTS: OfferSource.IMMERSION,
    Topic.TRAININGS: OfferSource.TRAINING,
}
STATE_TOPICS: tuple[str, ...] = (Topic.CANDIDATES, Topic.VACANCIES, Topic.TRAININGS, Topic.IMMERSION_SLOTS)


_OFFER_EVENTS: dict[type[AnyEvent], tuple[OfferSource, Callable[[Any], Offer]]] = {
    **dict.fromkeys(
        (ev.VacancyPosted, ev.VacancyUpdated, ev.VacancyClosed), (OfferSource.VACANCY, offer_from_vacancy)
    ),
    **dict.fromkeys(
        (ev.ImmersionSlotOffered, ev.ImmersionSlotUpdated, ev.ImmersionSlotClosed),
        (OfferSource.IMMERSION, offer_from_immersion),
    ),
    **dict.fromkeys(
        (ev.TrainingSessionPublished, ev.TrainingSessionUpdated), (OfferSource.TRAINING, offer_from_training)
    ),
}
"""The offer events: the source of their offer and how the offer is built from their data."""


def offer_of(event: AnyEvent) -> Offer | None:
    """The offer an offer event carries (None for other events)."""
    known = _OFFER_EVENTS.get(type(event))
    return known[1](event.data) if known is not None else None


def offer_version_of(event: AnyEvent) -> tuple[OfferKey, int] | None:
    """The offer and version an offer event is about, without building the offer (None for other events)."""
    known = _OFFER_EVENTS.get(type(event))
    if known is None:
        return None
    data: Any = event.data
    return (known[0], data.id), data.version


@dataclass
class MatchingState:
    """Candidates and offers as of the events applied so far (event-carried state: last one wins)."""

    candidates: CandidateIndex
    offers: OfferBook

    @classmethod
    def empty(cls, cell_scale: float = DEFAULT_CELL_SCALE) -> MatchingState:
        """No candidate, no offer."""
        return cls(CandidateIndex(cell_scale=cell_scale), OfferBook())

    def apply(self, event: AnyEvent) -> None:
        """Apply one event of a state topic."""
        if isinstance(event, ev.CandidateRegistered | ev.ApprenticeRegistered | ev.CandidateUpdated):
            known = self.candidates.version_of(event.data.id)
            if known is None or known <= event.data.version:
                self.candidates.upsert(candidate_from_profile(event.data))
        elif isinstance(event, ev.CandidateWithdrawn):
            self.candidates.remove(event.data.candidate_id)
        elif isinstance(event, ev.ShiftAccepted):
            offer = self.offers.get((OfferSource.VACANCY, event.data.vacancy_id))
            if offer is not None and offer.open:
                self.offers.upsert(replace(offer, open=False, filled=True))
        else:
            offer = offer_of(event)
            if offer is not None:
                known_offer = self.offers.get(offer.key)
                if known_offer is None or known_offer.version <= offer.version:
                    self.offers.upsert(offer)

    def apply_tombstone(self, topic: str, key: str) -> None:
        """A tombstone erases the entity of its key."""
        if topic == Topic.CANDIDATES:
            self.candidates.remove(key)
        elif topic in SOURCE_OF_TOPIC:
            self.offers.remove((SOURCE_OF_TOPIC[topic], key))
