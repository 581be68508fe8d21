"""The core's own view of candidates and offers, built from the contracts' payloads."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cache

from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.vocabulary import (
    WORK_STUDY_CONTRACTS,
    CandidateKind,
    ContractType,
    LifeExperience,
    MatchDeclineReason,
    OfferKind,
    OfferStatus,
    WorkingTime,
)
from vocation_shared.reference import DIPLOMAS, Diploma, communes, rome_v4

Position = tuple[float, float]
"""(latitude, longitude) in WGS84 degrees."""


class OfferSource(StrEnum):
    """Which entity (and topic) an offer comes from: ids are unique within a source only."""

    VACANCY = "vac"
    IMMERSION = "imm"
    TRAINING = "trn"


OfferKey = tuple[OfferSource, str]


@cache
def close_metiers(rome: str) -> frozenset[str]:
    """ROME 4 codes of the métiers close to `rome` (mobility links); empty for an unknown code."""
    metier = rome_v4().get(rome)
    return frozenset(metier.close_metiers) if metier is not None else frozenset()


def commune_position(insee: str) -> Position | None:
    """The town hall's position of a commune, or None when the reference does not know it.

    Guards against NaN coordinates too (the reference has one such row, Lanester 56098).
    """
    commune = communes().get(insee)
    position = None if commune is None else commune.position
    if position is None or not (math.isfinite(position[0]) and math.isfinite(position[1])):
        return None
    return position


def held_diplomas(diplomas: list[Diploma] | tuple[Diploma, ...]) -> frozenset[Diploma]:
    """Diplomas held, plus those that discontinued diplomas count as (DEAVS and DEAMP are DEAES)."""
    held = set(diplomas)
    for diploma in diplomas:
        successor = DIPLOMAS[diploma].superseded_by
        if successor is not None:
            held.add(successor)
    return frozenset(held)


@dataclass(frozen=True, slots=True)
class Candidate:
    """What matching needs of a candidate's profile (no contact data, ever)."""

    id: str
    version: int
    kind: CandidateKind
    wanted: tuple[str, ...]
    accepts_close: bool
    diplomas: frozenset[Diploma]
    experience: tuple[tuple[str, int], ...]
    life_experience: frozenset[LifeExperience]
    wants_immersion: bool
    position: Position | None
    radius_km: float
    driving_licence: bool
    available_from: date
    contract_types: frozenset[ContractType]
    working_times: frozenset[WorkingTime]
    accepts_night: bool
    accepts_weekend: bool
    needs_housing: bool
    birth_year: int | None
    recognised_disability: bool
    school_position: Position | None = None
    school_radius_km: float | None = None
    diploma_prepared: Diploma | None = None
    declined: frozenset[OfferKey] = frozenset()
    """Offers the candidate said « Pas pour moi » to: never proposed again (`core/learning.py`)."""
    excluded_close: frozenset[str] = frozenset()
    """Close métiers no longer proposed (a « métier » refusal)."""
    learned: frozenset[MatchDeclineReason] = frozenset()
    """The refusal reasons that narrowed this profile (the reasons of a match may say so)."""

    def months_in(self, rome: str) -> int:
        """Months of experience declared in a métier."""
        return sum(months for code, months in self.experience if code == rome)

    @property
    def is_apprentice(self) -> bool:
        """Whether the candidate has a school side (an apprenticeship plan)."""
        return self.school_radius_km is not None


def radius_as_indexed(value: float) -> float:
    # Radii are kept as float32 in the index; round here so both paths compare the same number.
    import numpy as np

    return float(np.float32(value))


def candidate_from_profile(profile: p.CandidateProfile) -> Candidate:
    """The core's candidate from the profile carried by candidate events."""
    position = (
        (profile.home_position.lat, profile.home_position.lon)
        if profile.home_position is not None
        else commune_position(profile.home_commune_insee)
    )
    plan = profile.apprenticeship
    school_position: Position | None = None
    if plan is not None:
        school_position = (
            (plan.school_position.lat, plan.school_position.lon)
            if plan.school_position is not None
            else commune_position(plan.school_commune_insee)
        )
    months: dict[str, int] = {}
    for item in profile.experience:
        months[item.rome_code] = months.get(item.rome_code, 0) + item.months
    return Candidate(
        id=profile.id,
        version=profile.version,
        kind=profile.kind,
        wanted=tuple(profile.wanted_rome_codes),
        accepts_close=profile.accepts_close_metiers,
        diplomas=held_diplomas(tuple(profile.diplomas)),
        experience=tuple(sorted((code, min(n, 600)) for code, n in months.items())),
        life_experience=frozenset(profile.life_experience),
        wants_immersion=profile.wants_immersion,
        position=position,
        radius_km=radius_as_indexed(profile.mobility_radius_km),
        driving_licence=profile.driving_licence,
        available_from=profile.available_from,
        contract_types=frozenset(profile.contract_types),
        working_times=frozenset(profile.working_times),
        accepts_night=profile.accepts_night,
        accepts_weekend=profile.accepts_weekend,
        needs_housing=profile.needs_housing,
        birth_year=profile.birth_year,
        recognised_disability=profile.recognised_disability,
        school_position=school_position,
        school_radius_km=radius_as_indexed(plan.max_distance_from_school_km) if plan is not None else None,
        diploma_prepared=plan.diploma_prepared if plan is not None else None,
    )


@dataclass(frozen=True, slots=True)
class Offer:
    """A vacancy, apprenticeship, immersion slot or training session, as matching sees it."""

    source: OfferSource
    id: str
    version: int
    kind: OfferKind
    title: str
    rome: str
    commune_insee: str
    position: Position | None
    start_date: date
    end_date: date | None = None
    establishment_name: str | None = None
    contract_type: ContractType | None = None
    working_time: WorkingTime | None = None
    night: bool = False
    weekend: bool = False
    required_diploma: Diploma | None = None
    """For a vacancy: the diploma a candidate must hold (unless the contract leads to it)."""
    training_diploma: Diploma | None = None
    """For a training session: the diploma it leads to."""
    application_deadline: date | None = None
    driving_licence_required: bool = False
    housing_offered: bool = False
    urgent: bool = False
    """An urgent replacement shift: notifications tell it at once."""
    open: bool = True
    """Status open and posts, places or capacity left."""
    filled: bool = False
    """Closed because every post or place is taken (the withdrawal reason differs)."""
    posts: int = 1
    """A vacancy's posts (hires through the platform fill them too: `MatchingState`)."""
    posts_filled: int = 0
    """The posts its partner says are filled."""
    fingerprint: str = field(default="", compare=False)
    """A digest of what matters to candidates: a new version with the same one is not a new match."""

    @property
    def key(self) -> OfferKey:
        """The offer's identity across sources."""
        return (self.source, self.id)

    @property
    def leads_to_required_diploma(self) -> bool:
        """A work-study contract (apprenticeship, professionalisation) prepares the diploma it asks for."""
        return self.contract_type in WORK_STUDY_CONTRACTS


def _fingerprint(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def _position(explicit: p.Position | None, insee: str) -> Position | None:
    return (explicit.lat, explicit.lon) if explicit is not None else commune_position(insee)


def offer_from_vacancy(vacancy: p.Vacancy) -> Offer:
    """A vacancy as an offer; an apprenticeship contract makes it an apprenticeship offer."""
    kind = (
        OfferKind.APPRENTICESHIP if vacancy.contract_type is ContractType.APPRENTISSAGE else OfferKind.VACANCY
    )
    position = _position(vacancy.position, vacancy.commune_insee)
    filled = vacancy.status is OfferStatus.FILLED or vacancy.posts_filled >= vacancy.posts
    material = (
        vacancy.rome_code,
        vacancy.contract_type,
        vacancy.working_time,
        vacancy.schedule.night,
        vacancy.schedule.weekend,
        vacancy.start_date,
        vacancy.end_date,
        vacancy.required_diploma,
        vacancy.driving_licence_required,
        vacancy.housing_offered,
        position,
    )
    return Offer(
        source=OfferSource.VACANCY,
        id=vacancy.id,
        version=vacancy.version,
        kind=kind,
        title=vacancy.title,
        rome=vacancy.rome_code,
        commune_insee=vacancy.commune_insee,
        position=position,
        start_date=vacancy.start_date,
        end_date=vacancy.end_date,
        establishment_name=vacancy.establishment.name,
        contract_type=vacancy.contract_type,
        working_time=vacancy.working_time,
        night=vacancy.schedule.night,
        weekend=vacancy.schedule.weekend,
        required_diploma=vacancy.required_diploma,
        driving_licence_required=vacancy.driving_licence_required,
        housing_offered=vacancy.housing_offered,
        urgent=vacancy.urgent,
        posts=vacancy.posts,
        posts_filled=vacancy.posts_filled,
        open=vacancy.status is OfferStatus.OPEN and not filled,
        filled=filled,
        fingerprint=_fingerprint(*material),
    )


def offer_from_immersion(slot: p.ImmersionSlot) -> Offer:
    """An immersion slot as an offer: for candidates who asked for discovery placements."""
    position = _position(slot.position, slot.commune_insee)
    filled = slot.status is OfferStatus.FILLED or slot.places_left == 0
    return Offer(
        source=OfferSource.IMMERSION,
        id=slot.id,
        version=slot.version,
        kind=OfferKind.IMMERSION,
        title=slot.title,
        rome=slot.rome_code,
        commune_insee=slot.commune_insee,
        position=position,
        start_date=slot.start_date,
        end_date=slot.end_date,
        establishment_name=slot.establishment.name,
        open=slot.status is OfferStatus.OPEN and not filled,
        filled=filled,
        fingerprint=_fingerprint(slot.rome_code, slot.start_date, slot.end_date, position),
    )


def offer_from_training(session: p.TrainingSession) -> Offer:
    """A training session as an offer: for people in reconversion who lack its diploma."""
    position = _position(session.position, session.commune_insee)
    filled = session.status is OfferStatus.FILLED or session.places_left == 0
    return Offer(
        source=OfferSource.TRAINING,
        id=session.id,
        version=session.version,
        kind=OfferKind.TRAINING,
        title=session.title,
        rome=session.rome_code,
        commune_insee=session.commune_insee,
        position=position,
        start_date=session.start_date,
        end_date=session.end_date,
        establishment_name=session.provider_name,
        training_diploma=session.diploma,
        application_deadline=session.application_deadline,
        open=session.status is OfferStatus.OPEN and not filled,
        filled=filled,
        fingerprint=_fingerprint(
            session.rome_code,
            session.diploma,
            session.start_date,
            session.end_date,
            session.application_deadline,
            position,
        ),
    )


@dataclass(frozen=True, slots=True)
class Match:
    """A candidate × offer pair that passes every hard rule, with its score and reasons."""

    candidate_id: str
    offer: Offer
    score: int
    distance_km: float
    close_metier: bool
    reasons: tuple[str, ...]
    tie_break: int = 0

    @property
    def match_id(self) -> str:
        """Deterministic: the same candidate, offer and offer version always give the same id."""
        return match_id(self.offer.source, self.offer.id, self.offer.version, self.candidate_id)


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A standing match just withdrawn: what its `match-withdrawn` event says."""

    match_id: str
    candidate_id: str
    offer_id: str
    offer_kind: OfferKind


def match_id(source: OfferSource, offer_id: str, version: int, candidate_id: str) -> str:
    """`<source>.<offer id>.v<version>.<candidate id>`, or a digest of it when too long for an id."""
    raw = f"{source}.{offer_id}.v{version}.{candidate_id}"
    if len(raw) <= 128:
        return raw
    return "m." + hashlib.blake2b(raw.encode(), digest_size=20).hexdigest()


def stable_hash(text: str) -> int:
    """A 63-bit hash of an id, stable across processes: the last tie-breaker of rankings."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1
