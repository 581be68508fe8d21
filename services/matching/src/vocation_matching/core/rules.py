"""Hard rules as small pure functions (each gives one reason for refusal), and the reference evaluation.

``evaluate`` is the reference: it checks one candidate against one offer with plain Python.
The index (``index.py``) applies the same rules to arrays; the property tests check that both
always agree, so these functions are also the documentation of what the index does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

import numpy as np
from vocation_shared.contracts.vocabulary import (
    WORK_STUDY_CONTRACTS,
    CandidateKind,
    ContractType,
    MatchDeclineReason,
    OfferKind,
)
from vocation_shared.reference import Diploma

from vocation_matching.core.model import Candidate, Offer, close_metiers
from vocation_matching.core.score import (
    MAX_APPRENTICE_AGE,
    MIN_APPRENTICE_AGE,
    REGULATED_DIPLOMAS,
    START_TOLERANCE_DAYS,
    distance_km,
    relevant_life_experience,
    score,
)


class Refusal(StrEnum):
    """Why a candidate and an offer do not match: one value per hard rule."""

    OFFER_NOT_OPEN = "offer_not_open"
    OFFER_OVER = "offer_over"
    APPLICATIONS_CLOSED = "applications_closed"
    METIER_NOT_WANTED = "metier_not_wanted"
    POSITION_UNKNOWN = "position_unknown"
    TOO_FAR = "too_far"
    SCHOOL_TOO_FAR = "school_too_far"
    DIPLOMA_MISSING = "diploma_missing"
    CONTRACT_NOT_ACCEPTED = "contract_not_accepted"
    WORKING_TIME_NOT_ACCEPTED = "working_time_not_accepted"
    NOT_AVAILABLE_IN_TIME = "not_available_in_time"
    NIGHT_NOT_ACCEPTED = "night_not_accepted"
    WEEKEND_NOT_ACCEPTED = "weekend_not_accepted"
    NO_DRIVING_LICENCE = "no_driving_licence"
    AGE_UNKNOWN = "age_unknown"
    AGE_OUTSIDE_APPRENTICESHIP = "age_outside_apprenticeship"
    IMMERSION_NOT_ASKED = "immersion_not_asked"
    NOT_IN_RECONVERSION = "not_in_reconversion"
    TRAINING_NOT_REGULATED = "training_not_regulated"
    DIPLOMA_ALREADY_HELD = "diploma_already_held"
    DECLINED = "declined"


# --- what the rules share with the index -----------------------------------------------------


def effective_start(offer: Offer, today: date) -> date:
    """The offer's start, or today for an offer that already started ("dès que possible")."""
    return max(offer.start_date, today)


def latest_availability(offer: Offer, today: date) -> date:
    """The last date a candidate may become available and still take the offer."""
    if offer.kind is OfferKind.IMMERSION:
        return offer.end_date or offer.start_date
    if offer.kind is OfferKind.TRAINING:
        return offer.start_date
    latest = effective_start(offer, today) + timedelta(days=START_TOLERANCE_DAYS[offer.contract_type])
    if offer.end_date is not None:
        latest = min(latest, offer.end_date)
    return latest


def apprenticeship_age(birth_year: int, offer: Offer, today: date) -> int:
    """The age reached in the calendar year the contract starts (only the birth year is known)."""
    return effective_start(offer, today).year - birth_year


def metier_relation(candidate: Candidate, rome: str) -> bool | None:
    """False for a wanted métier, True for a close one the candidate accepts, None otherwise."""
    if rome in candidate.wanted:
        return False
    if (
        candidate.accepts_close
        and rome not in candidate.excluded_close
        and any(rome in close_metiers(w) for w in candidate.wanted)
    ):
        return True
    return None


def is_work_study(offer: Offer) -> bool:
    """An apprenticeship or professionalisation contract: it leads to the diploma it asks for."""
    return offer.contract_type in WORK_STUDY_CONTRACTS


# --- the rules --------------------------------------------------------------------------------


def offer_takes_candidates(offer: Offer, today: date) -> Refusal | None:
    """The offer is open, with posts or places left, not over, and still takes applications."""
    if not offer.open:
        return Refusal.OFFER_NOT_OPEN
    if offer.end_date is not None and offer.end_date < today:
        return Refusal.OFFER_OVER
    if offer.kind is OfferKind.TRAINING and (
        offer.start_date < today
        or (offer.application_deadline is not None and offer.application_deadline < today)
    ):
        return Refusal.APPLICATIONS_CLOSED
    return None


def not_declined(candidate: Candidate, offer: Offer) -> Refusal | None:
    """The candidate never said « Pas pour moi » to this offer (any version of it)."""
    return Refusal.DECLINED if offer.key in candidate.declined else None


def metier_wanted(candidate: Candidate, offer: Offer) -> Refusal | None:
    """The métier is wanted, or close to a wanted one and the candidate accepts close métiers."""
    return Refusal.METIER_NOT_WANTED if metier_relation(candidate, offer.rome) is None else None


def positions_known(candidate: Candidate, offer: Offer) -> Refusal | None:
    """Both places are known, so the distance can be checked."""
    return Refusal.POSITION_UNKNOWN if candidate.position is None or offer.position is None else None


def within_radius(candidate: Candidate, offer: Offer) -> Refusal | None:
    """The offer is within the candidate's mobility radius of home."""
    if candidate.position is None or offer.position is None:
        return Refusal.POSITION_UNKNOWN
    return Refusal.TOO_FAR if distance_km(candidate.position, offer.position) > candidate.radius_km else None


def within_school_reach(candidate: Candidate, offer: Offer) -> Refusal | None:
    """An apprentice's work-study employer is within reach of the school too."""
    if not (candidate.is_apprentice and is_work_study(offer)):
        return None
    if candidate.school_position is None or offer.position is None:
        return Refusal.SCHOOL_TOO_FAR
    limit = candidate.school_radius_km if candidate.school_radius_km is not None else 0.0
    return Refusal.SCHOOL_TOO_FAR if distance_km(candidate.school_position, offer.position) > limit else None


def diploma_held(candidate: Candidate, offer: Offer) -> Refusal | None:
    """The required diploma is held, unless the contract prepares it (work-study)."""
    required = offer.required_diploma
    if required is None or is_work_study(offer) or required in candidate.diplomas:
        return None
    return Refusal.DIPLOMA_MISSING


def contract_accepted(candidate: Candidate, offer: Offer) -> Refusal | None:
    """The candidate accepts the contract type."""
    if offer.contract_type is None or offer.contract_type in candidate.contract_types:
        return None
    return Refusal.CONTRACT_NOT_ACCEPTED


def working_time_accepted(candidate: Candidate, offer: Offer) -> Refusal | None:
    """The candidate accepts full or part time as offered."""
    if offer.working_time is None or offer.working_time in candidate.working_times:
        return None
    return Refusal.WORKING_TIME_NOT_ACCEPTED


def available_in_time(candidate: Candidate, offer: Offer, today: date) -> Refusal | None:
    """The candidate is available by the start (with the contract's tolerance) and before the end."""
    return (
        Refusal.NOT_AVAILABLE_IN_TIME
        if candidate.available_from > latest_availability(offer, today)
        else None
    )


def night_accepted(candidate: Candidate, offer: Offer) -> Refusal | None:
    """Night work, when the offer needs it, is accepted."""
    return Refusal.NIGHT_NOT_ACCEPTED if offer.night and not candidate.accepts_night else None


def weekend_accepted(candidate: Candidate, offer: Offer) -> Refusal | None:
    """Weekend work, when the offer needs it, is accepted."""
    return Refusal.WEEKEND_NOT_ACCEPTED if offer.weekend and not candidate.accepts_weekend else None


def driving_licence_held(candidate: Candidate, offer: Offer) -> Refusal | None:
    """The driving licence, when the offer requires it, is held."""
    return (
        Refusal.NO_DRIVING_LICENCE
        if offer.driving_licence_required and not candidate.driving_licence
        else None
    )


def apprenticeship_age_ok(candidate: Candidate, offer: Offer, today: date) -> Refusal | None:
    """Apprenticeship: 16 to 29 at the contract start; no upper limit with a recognised disability."""
    if offer.contract_type is not ContractType.APPRENTISSAGE:
        return None
    if candidate.birth_year is None:
        return Refusal.AGE_UNKNOWN
    age = apprenticeship_age(candidate.birth_year, offer, today)
    if age < MIN_APPRENTICE_AGE or (age > MAX_APPRENTICE_AGE and not candidate.recognised_disability):
        return Refusal.AGE_OUTSIDE_APPRENTICESHIP
    return None


def immersion_asked(candidate: Candidate, offer: Offer) -> Refusal | None:
    """Immersion slots go only to candidates who asked for discovery placements."""
    return (
        Refusal.IMMERSION_NOT_ASKED
        if offer.kind is OfferKind.IMMERSION and not candidate.wants_immersion
        else None
    )


def training_fits(candidate: Candidate, offer: Offer) -> Refusal | None:
    """A training session goes to people in reconversion towards a regulated métier whose diploma they lack."""
    if offer.kind is not OfferKind.TRAINING:
        return None
    if candidate.kind is not CandidateKind.RECONVERSION:
        return Refusal.NOT_IN_RECONVERSION
    if offer.training_diploma not in REGULATED_DIPLOMAS:
        return Refusal.TRAINING_NOT_REGULATED
    if offer.training_diploma in candidate.diplomas:
        return Refusal.DIPLOMA_ALREADY_HELD
    return None


def refusals(candidate: Candidate, offer: Offer, today: date) -> list[Refusal]:
    """Every hard rule the pair breaks (empty: they match)."""
    found = [
        offer_takes_candidates(offer, today),
        not_declined(candidate, offer),
        metier_wanted(candidate, offer),
        within_radius(candidate, offer),
        available_in_time(candidate, offer, today),
    ]
    if offer.kind in (OfferKind.VACANCY, OfferKind.APPRENTICESHIP):
        found += [
            diploma_held(candidate, offer),
            contract_accepted(candidate, offer),
            working_time_accepted(candidate, offer),
            night_accepted(candidate, offer),
            weekend_accepted(candidate, offer),
            driving_licence_held(candidate, offer),
            within_school_reach(candidate, offer),
            apprenticeship_age_ok(candidate, offer, today),
        ]
    found += [immersion_asked(candidate, offer), training_fits(candidate, offer)]
    return [refusal for refusal in found if refusal is not None]


# --- facts and score of a matching pair ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known about a matching pair: the score's inputs and the reasons' material."""

    distance_km: float
    school_distance_km: float | None
    close_metier: bool
    months: int
    life_counts: bool
    needs_housing: bool
    holds_required_diploma: bool
    diploma_prepared: Diploma | None
    available_from: date
    radius_km: float
    learned: frozenset[MatchDeclineReason] = frozenset()
    """The refusals that narrowed the candidate's profile (`Candidate.learned`)."""


def start_gap_days(offer: Offer, today: date, available_from: date) -> int:
    """Days between when the candidate can start (not before today) and when the offer starts."""
    return (effective_start(offer, today) - max(available_from, today)).days


def facts_of(candidate: Candidate, offer: Offer) -> Facts:
    """The facts of a pair that passes every rule (positions known, métier related)."""
    assert candidate.position is not None
    assert offer.position is not None
    school = None
    if candidate.is_apprentice and is_work_study(offer) and candidate.school_position is not None:
        school = distance_km(candidate.school_position, offer.position)
    return Facts(
        distance_km=distance_km(candidate.position, offer.position),
        school_distance_km=school,
        close_metier=bool(metier_relation(candidate, offer.rome)),
        months=candidate.months_in(offer.rome),
        life_counts=bool(candidate.life_experience & relevant_life_experience(offer.rome)),
        needs_housing=candidate.needs_housing,
        holds_required_diploma=offer.required_diploma is not None
        and offer.required_diploma in candidate.diplomas,
        diploma_prepared=candidate.diploma_prepared,
        available_from=candidate.available_from,
        radius_km=candidate.radius_km,
        learned=candidate.learned,
    )


def score_of(facts: Facts, offer: Offer, today: date) -> int:
    """The 0–100 score of one matching pair (the same formula as the index, on one-element arrays)."""
    return int(
        score(
            np.array([facts.distance_km]),
            np.array([facts.radius_km], dtype=np.float32),
            np.array([facts.close_metier]),
            np.array([facts.months]),
            np.array([facts.life_counts]),
            np.array([not facts.needs_housing or offer.housing_offered]),
            np.array([start_gap_days(offer, today, facts.available_from)]),
            offer.night,
            offer.weekend,
        )[0]
    )


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The reference outcome for one pair: refusals, or the facts and the score."""

    refusals: tuple[Refusal, ...]
    facts: Facts | None = None
    score: int = 0

    @property
    def matches(self) -> bool:
        """No hard rule is broken."""
        return not self.refusals


def evaluate(candidate: Candidate, offer: Offer, today: date) -> Evaluation:
    """Check every hard rule, then score the pair if none is broken."""
    broken = refusals(candidate, offer, today)
    if broken:
        return Evaluation(tuple(broken))
    facts = facts_of(candidate, offer)
    return Evaluation((), facts, score_of(facts, offer, today))
