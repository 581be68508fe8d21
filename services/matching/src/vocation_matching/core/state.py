"""The in-memory state every instance rebuilds: candidates and offers from the compacted topics, and what
the candidates' refusals taught and the platform's hires (from matching's own tables)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.topics import Topic

from vocation_matching.core.index import DEFAULT_CELL_SCALE, CandidateIndex, OfferBook
from vocation_matching.core.learning import SOURCE_OF_KIND, Lesson, learn, lesson_of
from vocation_matching.core.model import (
    Candidate,
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
    """Candidates and offers as of the events applied so far (event-carried state: last one wins).

    The index holds each candidate as matching treats them (`learn`: the raw profile narrowed by
    their lessons); the raw profile is kept here for the few candidates with lessons. A vacancy
    whose posts are all filled, by its partner's count or by the hires through the platform
    (`hires`, once per application), is closed as filled.
    """

    candidates: CandidateIndex
    offers: OfferBook
    lessons: dict[str, dict[OfferKey, Lesson]] = field(default_factory=dict)
    raw: dict[str, Candidate] = field(default_factory=dict)
    hires: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def empty(cls, cell_scale: float = DEFAULT_CELL_SCALE) -> MatchingState:
        """No candidate, no offer."""
        return cls(CandidateIndex(cell_scale=cell_scale), OfferBook())

    def apply(self, event: AnyEvent) -> None:
        """Apply one event of a state topic."""
        if isinstance(event, ev.CandidateRegistered | ev.ApprenticeRegistered | ev.CandidateUpdated):
            known = self.candidates.version_of(event.data.id)
            if known is None or known <= event.data.version:
                self.candidates.upsert(self.candidate_of(candidate_from_profile(event.data)))
        elif isinstance(event, ev.CandidateWithdrawn):
            self.remove_candidate(event.data.candidate_id)
        elif isinstance(event, ev.ShiftAccepted):
            offer = self.offers.get((OfferSource.VACANCY, event.data.vacancy_id))
            if offer is not None and offer.open:
                self.offers.upsert(replace(offer, open=False, filled=True))
        else:
            offer = offer_of(event)
            if offer is not None:
                known_offer = self.offers.get(offer.key)
                if known_offer is None or known_offer.version <= offer.version:
                    self.offers.upsert(self._filled_by_hires(offer))

    def apply_tombstone(self, topic: str, key: str) -> None:
        """A tombstone erases the entity of its key."""
        if topic == Topic.CANDIDATES:
            self.remove_candidate(key)
        elif topic in SOURCE_OF_TOPIC:
            self.offers.remove((SOURCE_OF_TOPIC[topic], key))

    # --- refusals and hires ---

    def candidate_of(self, raw: Candidate) -> Candidate:
        """The candidate as matching treats them: the raw profile (kept if they have lessons) narrowed."""
        lessons = self.lessons.get(raw.id)
        if not lessons:
            return raw
        self.raw[raw.id] = raw
        return learn(raw, list(lessons.values()))

    def lessons_of(self, candidate_id: str) -> frozenset[str]:
        """The refusal reasons that narrow a candidate now (for the logs: no personal data)."""
        candidate = self.candidates.get(candidate_id)
        return frozenset(str(r) for r in candidate.learned) if candidate is not None else frozenset()

    def remove_candidate(self, candidate_id: str) -> None:
        """A candidate withdrawn or erased: their lessons go with them."""
        self.candidates.remove(candidate_id)
        self.lessons.pop(candidate_id, None)
        self.raw.pop(candidate_id, None)

    def lesson_for(self, declined: p.MatchDeclined) -> Lesson | None:
        """What a refusal teaches, from the candidate's raw profile and the offer as they are now
        (None when the candidate is not known: withdrawn or erased since)."""
        raw = self.raw.get(declined.candidate_id) or self.candidates.get(declined.candidate_id)
        if raw is None:
            return None
        key = (SOURCE_OF_KIND[declined.offer_kind], declined.offer_id)
        return lesson_of(raw, key, declined.reason, self.offers.get(key))

    def learn(self, candidate_id: str, lesson: Lesson) -> bool:
        """Add a candidate's lesson and index them narrowed by it; False when the candidate is not
        known (their lessons went with them) or the lesson was already there."""
        known = self.lessons.get(candidate_id, {})
        if known.get(lesson.offer) == lesson:
            return False
        raw = self.raw.get(candidate_id) or self.candidates.get(candidate_id)
        if raw is None:
            return False
        self.lessons.setdefault(candidate_id, {})[lesson.offer] = lesson
        self.candidates.upsert(self.candidate_of(raw))
        return True

    def hire(self, vacancy_id: str, application_id: str) -> bool:
        """Count a hire through the platform once; True when it fills the vacancy's last post now."""
        hired = self.hires.setdefault(vacancy_id, set())
        if application_id in hired:
            return False
        hired.add(application_id)
        offer = self.offers.get((OfferSource.VACANCY, vacancy_id))
        if offer is None or not offer.open:
            return False
        filled = self._filled_by_hires(offer)
        if filled.open:
            return False
        self.offers.upsert(filled)
        return True

    def _filled_by_hires(self, offer: Offer) -> Offer:
        """An open vacancy whose posts are filled by `max(partner's count, platform hires)` is filled."""
        if offer.source is not OfferSource.VACANCY or not offer.open:
            return offer
        if max(offer.posts_filled, len(self.hires.get(offer.id, ()))) < offer.posts:
            return offer
        return replace(offer, open=False, filled=True)
