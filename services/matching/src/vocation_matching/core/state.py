"""The in-memory state every instance rebuilds from the compacted topics: candidates and offers."""

from __future__ import annotations

from dataclasses import dataclass, replace

from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic

from vocation_matching.core.index import DEFAULT_CELL_SCALE, CandidateIndex, OfferBook
from vocation_matching.core.model import (
    Offer,
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


def offer_of(event: AnyEvent) -> Offer | None:
    """The offer an offer event carries (None for other events)."""
    if isinstance(event, ev.VacancyPosted | ev.VacancyUpdated | ev.VacancyClosed):
        return offer_from_vacancy(event.data)
    if isinstance(event, ev.ImmersionSlotOffered | ev.ImmersionSlotUpdated | ev.ImmersionSlotClosed):
        return offer_from_immersion(event.data)
    if isinstance(event, ev.TrainingSessionPublished | ev.TrainingSessionUpdated):
        return offer_from_training(event.data)
    return None


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
