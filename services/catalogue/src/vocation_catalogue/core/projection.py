"""Read-model rows from entity events: the columns each table keeps of an entity's full state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.vocabulary import OfferStatus

from vocation_catalogue.core.places import locate
from vocation_catalogue.core.text import searchable


@dataclass(frozen=True, slots=True)
class Row:
    """One version of an entity as a table row; `version` decides which version wins."""

    table: str
    id: str
    version: int
    columns: dict[str, Any]


def establishment_row(establishment: p.Establishment, at: datetime) -> Row:
    """The `establishments` row of an employer site."""
    place = locate(establishment.commune_insee, establishment.position)
    return Row(
        "establishments",
        establishment.id,
        establishment.version,
        {
            "siret": establishment.siret,
            "name": establishment.name,
            "kind": str(establishment.kind),
            "commune_insee": establishment.commune_insee,
            "lat": place.lat,
            "lon": place.lon,
            "data": establishment.model_dump(mode="json", exclude_none=True),
            "updated_at": at,
        },
    )


def candidate_supply_row(profile: p.CandidateProfile, at: datetime) -> Row:
    """The `candidate_supply` row of a candidate: where they live, what they look for, and what an
    employer reads of them when they apply (diplomas, experience, availability), nothing more."""
    return Row(
        "candidate_supply",
        profile.id,
        profile.version,
        {
            "kind": str(profile.kind),
            "departement": locate(profile.home_commune_insee, None).departement,
            "rome_codes": list(dict.fromkeys(profile.wanted_rome_codes)),
            "available_from": profile.available_from,
            "updated_at": at,
            "summary": p.CandidateSummary(
                diplomas=profile.diplomas,
                experience=profile.experience,
                available_from=profile.available_from,
            ).model_dump(mode="json", exclude_none=True),
        },
    )


def vacancy_row(vacancy: p.Vacancy, at: datetime) -> Row:
    """The `vacancies` row of a vacancy; only `open` ones are found by search."""
    place = locate(vacancy.commune_insee, vacancy.position)
    status = vacancy.status
    if status is OfferStatus.OPEN and vacancy.posts_filled >= vacancy.posts:
        status = OfferStatus.FILLED
    return Row(
        "vacancies",
        vacancy.id,
        vacancy.version,
        {
            "status": str(status),
            "rome_code": vacancy.rome_code,
            "contract_type": str(vacancy.contract_type),
            "working_time": str(vacancy.working_time),
            "night": vacancy.schedule.night,
            "weekend": vacancy.schedule.weekend,
            "housing_offered": vacancy.housing_offered,
            "required_diploma": str(vacancy.required_diploma) if vacancy.required_diploma else None,
            "start_date": vacancy.start_date,
            "commune_insee": place.commune_insee,
            "departement": place.departement,
            "lat": place.lat,
            "lon": place.lon,
            "establishment_id": vacancy.establishment.id,
            "posted_at": at,
            "updated_at": at,
            "search_text": searchable(vacancy.title, vacancy.description, vacancy.establishment.name),
            "data": vacancy.model_dump(mode="json", exclude_none=True),
        },
    )


def slot_row(slot: p.ImmersionSlot, at: datetime) -> Row:
    """The `immersion_slots` row of a slot (places left as given: the caller settles them)."""
    place = locate(slot.commune_insee, slot.position)
    return Row(
        "immersion_slots",
        slot.id,
        slot.version,
        {
            "status": str(slot.status),
            "rome_code": slot.rome_code,
            "start_date": slot.start_date,
            "end_date": slot.end_date,
            "capacity": slot.capacity,
            "places_left": slot.places_left,
            "commune_insee": place.commune_insee,
            "departement": place.departement,
            "lat": place.lat,
            "lon": place.lon,
            "establishment_id": slot.establishment.id,
            "posted_at": at,
            "updated_at": at,
            "search_text": searchable(slot.title, slot.description, slot.establishment.name),
            "data": slot.model_dump(mode="json", exclude_none=True),
        },
    )


def training_row(session: p.TrainingSession, at: datetime) -> Row:
    """The `trainings` row of a training session."""
    place = locate(session.commune_insee, session.position)
    status = session.status
    if status is OfferStatus.OPEN and session.places_left == 0:
        status = OfferStatus.FILLED
    return Row(
        "trainings",
        session.id,
        session.version,
        {
            "status": str(status),
            "rome_code": session.rome_code,
            "diploma": str(session.diploma),
            "apprenticeship_possible": session.apprenticeship_possible,
            "start_date": session.start_date,
            "end_date": session.end_date,
            "application_deadline": session.application_deadline,
            "places_left": session.places_left,
            "commune_insee": place.commune_insee,
            "departement": place.departement,
            "lat": place.lat,
            "lon": place.lon,
            "posted_at": at,
            "updated_at": at,
            "search_text": searchable(session.title, session.provider_name, str(session.diploma)),
            "data": session.model_dump(mode="json", exclude_none=True),
        },
    )
