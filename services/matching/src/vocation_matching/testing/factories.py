"""Factories of core candidates and offers for tests and benchmarks (Ain communes, near Bourg-en-Bresse)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from vocation_shared.contracts.vocabulary import CandidateKind, ContractType, OfferKind, WorkingTime
from vocation_shared.reference import Diploma

from vocation_matching.core.model import Candidate, Offer, OfferSource, commune_position

TODAY = date(2026, 11, 22)
BOURG_EN_BRESSE = "01053"
AMBERIEU_EN_BUGEY = "01004"


def _position(insee: str) -> tuple[float, float]:
    position = commune_position(insee)
    assert position is not None
    return position


def candidate(**overrides: Any) -> Candidate:
    """A job seeker of Ambérieu-en-Bugey (29 km from Bourg) who holds the DEAS and wants J1501."""
    base = Candidate(
        id="cand-1",
        version=1,
        kind=CandidateKind.JOB_SEEKER,
        wanted=("J1501",),
        accepts_close=False,
        diplomas=frozenset({Diploma.DEAS}),
        experience=(("J1501", 30),),
        life_experience=frozenset(),
        wants_immersion=False,
        position=_position(AMBERIEU_EN_BUGEY),
        radius_km=40.0,
        driving_licence=True,
        available_from=TODAY,
        contract_types=frozenset({ContractType.CDI, ContractType.CDD}),
        working_times=frozenset({WorkingTime.FULL_TIME}),
        accepts_night=True,
        accepts_weekend=True,
        needs_housing=False,
        birth_year=1990,
        recognised_disability=False,
    )
    return replace(base, **overrides)


def apprentice(**overrides: Any) -> Candidate:
    """A 19-year-old apprentice of Ambérieu preparing the DEAS at a school in Bourg-en-Bresse."""
    values: dict[str, Any] = {
        "id": "appr-1",
        "kind": CandidateKind.APPRENTICE,
        "diplomas": frozenset(),
        "experience": (),
        "contract_types": frozenset({ContractType.APPRENTISSAGE}),
        "birth_year": TODAY.year - 19,
        "school_position": _position(BOURG_EN_BRESSE),
        "school_radius_km": 30.0,
        "diploma_prepared": Diploma.DEAS,
    }
    values.update(overrides)
    return candidate(**values)


def vacancy(**overrides: Any) -> Offer:
    """An open CDI for an aide-soignant at an EHPAD of Bourg-en-Bresse, DEAS required, starting in 10 days."""
    base = Offer(
        source=OfferSource.VACANCY,
        id="vac-1",
        version=1,
        kind=OfferKind.VACANCY,
        title="Aide-soignant(e)",
        rome="J1501",
        commune_insee=BOURG_EN_BRESSE,
        position=_position(BOURG_EN_BRESSE),
        start_date=TODAY + timedelta(days=10),
        establishment_name="EHPAD Les Tilleuls",
        contract_type=ContractType.CDI,
        working_time=WorkingTime.FULL_TIME,
        required_diploma=Diploma.DEAS,
    )
    return replace(base, **overrides)


def apprenticeship(**overrides: Any) -> Offer:
    """An apprenticeship towards the DEAS at the same EHPAD."""
    values: dict[str, Any] = {
        "id": "app-1",
        "kind": OfferKind.APPRENTICESHIP,
        "contract_type": ContractType.APPRENTISSAGE,
    }
    values.update(overrides)
    return vacancy(**values)


def immersion(**overrides: Any) -> Offer:
    """A one-week immersion slot for J1501 in Bourg-en-Bresse."""
    values: dict[str, Any] = {
        "source": OfferSource.IMMERSION,
        "id": "imm-1",
        "kind": OfferKind.IMMERSION,
        "contract_type": None,
        "working_time": None,
        "required_diploma": None,
        "end_date": TODAY + timedelta(days=17),
    }
    values.update(overrides)
    return vacancy(**values)


def training(**overrides: Any) -> Offer:
    """A DEAS training session in Bourg-en-Bresse starting in 40 days."""
    values: dict[str, Any] = {
        "source": OfferSource.TRAINING,
        "id": "trn-1",
        "kind": OfferKind.TRAINING,
        "contract_type": None,
        "working_time": None,
        "required_diploma": None,
        "training_diploma": Diploma.DEAS,
        "start_date": TODAY + timedelta(days=40),
        "end_date": TODAY + timedelta(days=400),
        "establishment_name": "IFAS de Bourg",
    }
    values.update(overrides)
    return vacancy(**values)
