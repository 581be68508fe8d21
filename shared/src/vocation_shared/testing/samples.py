"""Realistic sample payloads for tests: real communes of the Ain and the Landes, valid SIRETs."""

from __future__ import annotations

from datetime import date
from typing import Any

from vocation_shared.contracts.payloads import application_id_of

# Luhn-valid SIRETs (fictional establishments).
SIRET_EHPAD_BOURG = "73282932000074"
SIRET_SAAD_MONT_DE_MARSAN = "35600000000051"  # La Poste's rule: digit sum is a multiple of 5

BOURG_EN_BRESSE = "01053"
AMBERIEU_EN_BUGEY = "01004"
MONT_DE_MARSAN = "40192"


def vacancy(**overrides: Any) -> dict[str, Any]:
    """A vacancy for an aide-soignant at an EHPAD of Bourg-en-Bresse."""
    data: dict[str, Any] = {
        "id": "vac-0001",
        "establishment": {
            "id": "etab-ehpad-bourg",
            "siret": SIRET_EHPAD_BOURG,
            "name": "EHPAD Les Tilleuls",
            "kind": "ehpad",
        },
        "rome_code": "J1501",
        "title": "Aide-soignant(e) de nuit",
        "description": "Accompagnement des résidents la nuit, équipe de 4.",
        "contract_type": "cdi",
        "working_time": "full_time",
        "schedule": {"night": True, "weekend": True, "hours_per_week": 35},
        "start_date": "2026-12-01",
        "required_diploma": "DEAS",
        "driving_licence_required": False,
        "housing_offered": True,
        "posts": 2,
        "commune_insee": BOURG_EN_BRESSE,
        "status": "open",
        "version": 1,
    }
    data.update(overrides)
    return data


def candidate(**overrides: Any) -> dict[str, Any]:
    """A job seeker of Ambérieu-en-Bugey who holds the DEAS."""
    data: dict[str, Any] = {
        "id": "cand-0001",
        "kind": "job_seeker",
        "wanted_rome_codes": ["J1501"],
        "accepts_close_metiers": True,
        "diplomas": ["DEAS"],
        "experience": [{"rome_code": "J1501", "months": 30}],
        "life_experience": ["caring_for_relative"],
        "home_commune_insee": AMBERIEU_EN_BUGEY,
        "mobility_radius_km": 40,
        "driving_licence": True,
        "has_vehicle": True,
        "available_from": date(2026, 11, 30).isoformat(),
        "contract_types": ["cdi", "cdd"],
        "working_times": ["full_time"],
        "accepts_night": True,
        "accepts_weekend": True,
        "birth_year": 1990,
        "version": 1,
    }
    data.update(overrides)
    return data


def match_found(**overrides: Any) -> dict[str, Any]:
    """The match of `candidate()` with `vacancy()`, as the matching service announces it."""
    data: dict[str, Any] = {
        "match_id": "m-cand-0001-vac-0001",
        "candidate_id": "cand-0001",
        "offer_id": "vac-0001",
        "offer_kind": "vacancy",
        "offer_version": 1,
        "offer_title": "Aide-soignant(e) de nuit",
        "rome_code": "J1501",
        "commune_insee": BOURG_EN_BRESSE,
        "establishment_name": "EHPAD Les Tilleuls",
        "distance_km": 12.4,
        "score": 87,
        "reasons": ["à 12 km de chez vous", "diplôme DEAS requis : vous l'avez"],
    }
    data.update(overrides)
    return data


def application_submitted(**overrides: Any) -> dict[str, Any]:
    """`candidate()` applies to `vacancy()` from `match_found()`, sharing their email."""
    data: dict[str, Any] = {
        "application_id": application_id_of("cand-0001", "vac-0001"),
        "candidate_id": "cand-0001",
        "offer_id": "vac-0001",
        "offer_kind": "vacancy",
        "match_id": "m-cand-0001-vac-0001",
        "message": "Je travaille de nuit depuis trois ans, disponible dès janvier.",
        "shares": {"email": True, "phone": False},
        "summary": {
            "diplomas": ["DEAS"],
            "experience": [{"rome_code": "J1501", "months": 36}],
            "available_from": "2027-01-04",
            "distance_km": 12.4,
            "reasons": ["à 12 km de chez vous", "diplôme DEAS requis : vous l'avez"],
        },
        "submitted_at": "2026-12-03T10:00:00+01:00",
    }
    data.update(overrides)
    return data


def application_answered(**overrides: Any) -> dict[str, Any]:
    """The employer of `vacancy()` proposes an exchange to `candidate()`."""
    data: dict[str, Any] = {
        "application_id": application_id_of("cand-0001", "vac-0001"),
        "candidate_id": "cand-0001",
        "offer_id": "vac-0001",
        "answer": "interview_proposed",
        "answered_at": "2026-12-04T09:30:00+01:00",
    }
    data.update(overrides)
    return data


def cloud_event(event_type: str, subject: str, data: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A structured-mode CloudEvent as a partner would send it."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": "evt-" + subject,
        "source": "urn:partner:test",
        "type": event_type,
        "subject": subject,
        "time": "2026-11-22T08:00:00+01:00",
        "datacontenttype": "application/json",
        "data": data,
    }
    event.update(overrides)
    return event
