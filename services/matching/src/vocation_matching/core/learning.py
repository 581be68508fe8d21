"""What a « Pas pour moi » teaches: the declined offer never again, and the reason narrows what comes next."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from vocation_shared.contracts.vocabulary import ContractType, MatchDeclineReason, OfferKind

from vocation_matching.core.model import (
    Candidate,
    Offer,
    OfferKey,
    OfferSource,
    close_metiers,
    radius_as_indexed,
)
from vocation_matching.core.score import distance_km

NARROWED_RADIUS_SHARE = 0.9
"""A « trop loin » caps the radius at 90 % of the declined offer's distance: that offer and every
one as far or farther are out, nearer ones still come."""

SOURCE_OF_KIND = {
    OfferKind.VACANCY: OfferSource.VACANCY,
    OfferKind.APPRENTICESHIP: OfferSource.VACANCY,
    OfferKind.IMMERSION: OfferSource.IMMERSION,
    OfferKind.TRAINING: OfferSource.TRAINING,
}
"""The source (and topic) of the offer a `match.declined` names by its kind."""


@dataclass(frozen=True, slots=True)
class Lesson:
    """One declined offer and what its reason teaches, resolved once from the state of that moment.

    `basis` is a digest of the profile fields the reason is about (`basis_of`): the lesson narrows
    the profile only while those fields are what they were when the candidate declined.
    """

    offer: OfferKey
    reason: MatchDeclineReason | None
    basis: str = ""
    distance_km: float | None = None
    """`too_far`: the declined offer's distance from home."""
    night: bool = False
    """`hours`: the declined offer asked for nights."""
    weekend: bool = False
    """`hours`: the declined offer asked for weekends."""
    excluded_close: frozenset[str] = frozenset()
    """`metier`: the close métiers no longer proposed."""
    contract: ContractType | None = None
    """`contract`: the contract type no longer proposed."""


def basis_of(reason: MatchDeclineReason | None, candidate: Candidate) -> str:
    """A digest of the profile fields a reason narrows: a change of one of them ends the lesson."""
    if reason is MatchDeclineReason.TOO_FAR:
        fields: tuple[object, ...] = (candidate.position, candidate.radius_km)
    elif reason is MatchDeclineReason.HOURS:
        fields = (candidate.accepts_night, candidate.accepts_weekend)
    elif reason is MatchDeclineReason.METIER:
        fields = (candidate.wanted, candidate.accepts_close)
    elif reason is MatchDeclineReason.CONTRACT:
        fields = (tuple(sorted(candidate.contract_types)),)
    else:
        return ""
    return hashlib.blake2b(repr(fields).encode(), digest_size=8).hexdigest()


def lesson_of(
    candidate: Candidate, offer_key: OfferKey, reason: MatchDeclineReason | None, offer: Offer | None
) -> Lesson:
    """What declining `offer` for `reason` teaches about `candidate` (its raw profile, as it is now).

    Without the offer (erased since) only the « never again » holds.
    """
    plain = Lesson(offer_key, reason)
    if offer is None or reason is None:
        return plain
    basis = basis_of(reason, candidate)
    if reason is MatchDeclineReason.TOO_FAR:
        if candidate.position is None or offer.position is None:
            return plain
        return replace(plain, basis=basis, distance_km=distance_km(candidate.position, offer.position))
    if reason is MatchDeclineReason.HOURS:
        return replace(plain, basis=basis, night=offer.night, weekend=offer.weekend)
    if reason is MatchDeclineReason.METIER:
        # Proposed as a close métier: that métier no longer comes as a close one. Proposed in a
        # wanted métier (which the profile still asks for): its close métiers no longer come.
        excluded = (
            frozenset({offer.rome}) if offer.rome not in candidate.wanted else close_metiers(offer.rome)
        )
        return replace(plain, basis=basis, excluded_close=excluded - set(candidate.wanted))
    if reason is MatchDeclineReason.CONTRACT:
        return replace(plain, basis=basis, contract=offer.contract_type)
    return plain


def learn(candidate: Candidate, lessons: tuple[Lesson, ...] | list[Lesson]) -> Candidate:
    """The candidate as matching treats them: the raw profile narrowed by the lessons that still hold.

    Every declined offer is excluded whatever happened since; a reason's narrowing holds while the
    fields it is about are unchanged (`basis_of`).
    """
    if not lessons:
        return candidate
    radius = candidate.radius_km
    night, weekend = candidate.accepts_night, candidate.accepts_weekend
    excluded: set[str] = set()
    contracts = set(candidate.contract_types)
    learned: set[MatchDeclineReason] = set()
    for lesson in lessons:
        if lesson.reason is None or not lesson.basis or lesson.basis != basis_of(lesson.reason, candidate):
            continue
        if lesson.distance_km is not None:
            radius = min(radius, radius_as_indexed(lesson.distance_km * NARROWED_RADIUS_SHARE))
        night, weekend = night and not lesson.night, weekend and not lesson.weekend
        excluded |= lesson.excluded_close
        if lesson.contract is not None and lesson.contract in contracts and len(contracts) > 1:
            contracts.discard(lesson.contract)  # never the last one: the candidate still wants work
        learned.add(lesson.reason)
    if radius < candidate.radius_km:
        learned.add(MatchDeclineReason.TOO_FAR)
    else:
        learned.discard(MatchDeclineReason.TOO_FAR)
    hours = (night, weekend) != (candidate.accepts_night, candidate.accepts_weekend)
    if not hours:
        learned.discard(MatchDeclineReason.HOURS)
    return replace(
        candidate,
        radius_km=radius,
        accepts_night=night,
        accepts_weekend=weekend,
        contract_types=frozenset(contracts),
        declined=frozenset(lesson.offer for lesson in lessons),
        excluded_close=frozenset(excluded),
        learned=frozenset(learned),
    )
