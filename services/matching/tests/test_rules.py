"""Every hard rule refuses what it must, and only that."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from vocation_matching.core.rules import Refusal, evaluate, refusals
from vocation_matching.testing import (
    TODAY,
    apprentice,
    apprenticeship,
    candidate,
    immersion,
    training,
    vacancy,
)
from vocation_shared.contracts.vocabulary import CandidateKind, ContractType, WorkingTime
from vocation_shared.reference import Diploma

pytestmark = pytest.mark.unit


def test_sample_candidate_matches_sample_vacancy() -> None:
    assert refusals(candidate(), vacancy(), TODAY) == []


def test_closed_offer_is_not_matched() -> None:
    assert Refusal.OFFER_NOT_OPEN in refusals(candidate(), vacancy(open=False), TODAY)


def test_offer_ended_before_today_is_not_matched() -> None:
    offer = vacancy(
        contract_type=ContractType.CDD,
        start_date=TODAY - timedelta(days=30),
        end_date=TODAY - timedelta(days=1),
    )
    assert Refusal.OFFER_OVER in refusals(
        candidate(contract_types=frozenset({ContractType.CDD})), offer, TODAY
    )


def test_offer_in_an_unwanted_metier_is_not_matched() -> None:
    assert refusals(candidate(wanted=("K1207",)), vacancy(), TODAY) == [Refusal.METIER_NOT_WANTED]


def test_close_metier_matches_only_when_the_candidate_accepts_close_metiers() -> None:
    # J1304 (auxiliaire de puériculture) is close to J1501 in ROME 4.
    offer = vacancy(rome="J1304", required_diploma=None)
    assert refusals(candidate(accepts_close=False), offer, TODAY) == [Refusal.METIER_NOT_WANTED]
    outcome = evaluate(candidate(accepts_close=True), offer, TODAY)
    assert outcome.matches
    assert outcome.facts is not None and outcome.facts.close_metier


def test_offer_beyond_radius_is_not_matched() -> None:
    # Ambérieu–Bourg is about 29 km.
    assert refusals(candidate(radius_km=25.0), vacancy(), TODAY) == [Refusal.TOO_FAR]
    assert refusals(candidate(radius_km=30.0), vacancy(), TODAY) == []


def test_candidate_without_known_position_is_not_matched() -> None:
    assert refusals(candidate(position=None), vacancy(), TODAY) == [Refusal.POSITION_UNKNOWN]


def test_required_diploma_missing_is_not_matched() -> None:
    assert refusals(candidate(diplomas=frozenset()), vacancy(), TODAY) == [Refusal.DIPLOMA_MISSING]


def test_superseded_diploma_counts_as_its_successor() -> None:
    from vocation_matching.core.model import held_diplomas

    offer = vacancy(rome="K1306", required_diploma=Diploma.DEAES)
    person = candidate(wanted=("K1306",), diplomas=held_diplomas((Diploma.DEAMP,)))
    assert refusals(person, offer, TODAY) == []


def test_apprenticeship_does_not_require_the_diploma_it_prepares() -> None:
    assert refusals(apprentice(), apprenticeship(), TODAY) == []


def test_contract_type_not_accepted_is_not_matched() -> None:
    offer = vacancy(contract_type=ContractType.REMPLACEMENT)
    assert refusals(candidate(), offer, TODAY) == [Refusal.CONTRACT_NOT_ACCEPTED]


def test_working_time_not_accepted_is_not_matched() -> None:
    offer = vacancy(working_time=WorkingTime.PART_TIME)
    assert refusals(candidate(), offer, TODAY) == [Refusal.WORKING_TIME_NOT_ACCEPTED]


def test_candidate_available_after_the_start_tolerance_is_not_matched() -> None:
    offer = vacancy(contract_type=ContractType.CDD, end_date=TODAY + timedelta(days=100))
    late = candidate(available_from=offer.start_date + timedelta(days=15))
    in_time = candidate(available_from=offer.start_date + timedelta(days=14))
    assert refusals(late, offer, TODAY) == [Refusal.NOT_AVAILABLE_IN_TIME]
    assert refusals(in_time, offer, TODAY) == []


def test_replacement_shift_needs_the_candidate_available_on_the_day() -> None:
    offer = vacancy(contract_type=ContractType.REMPLACEMENT, start_date=TODAY, end_date=TODAY)
    person = candidate(contract_types=frozenset({ContractType.REMPLACEMENT}))
    assert refusals(person, offer, TODAY) == []
    assert refusals(replace(person, available_from=TODAY + timedelta(days=1)), offer, TODAY) == [
        Refusal.NOT_AVAILABLE_IN_TIME
    ]


def test_night_work_not_accepted_is_not_matched() -> None:
    assert refusals(candidate(accepts_night=False), vacancy(night=True), TODAY) == [
        Refusal.NIGHT_NOT_ACCEPTED
    ]
    assert refusals(candidate(accepts_night=False), vacancy(night=False), TODAY) == []


def test_weekend_work_not_accepted_is_not_matched() -> None:
    refused = refusals(candidate(accepts_weekend=False), vacancy(weekend=True), TODAY)
    assert refused == [Refusal.WEEKEND_NOT_ACCEPTED]


def test_driving_licence_required_but_not_held_is_not_matched() -> None:
    offer = vacancy(driving_licence_required=True)
    assert refusals(candidate(driving_licence=False), offer, TODAY) == [Refusal.NO_DRIVING_LICENCE]


def test_apprentice_must_be_within_reach_of_school() -> None:
    far_school = apprentice(school_position=(43.6, 1.44))  # Toulouse
    assert refusals(far_school, apprenticeship(), TODAY) == [Refusal.SCHOOL_TOO_FAR]


def test_school_reach_does_not_apply_to_a_cdi() -> None:
    person = apprentice(
        school_position=(43.6, 1.44),
        contract_types=frozenset({ContractType.CDI}),
        diplomas=frozenset({Diploma.DEAS}),
    )
    assert refusals(person, vacancy(), TODAY) == []


@pytest.mark.parametrize(
    ("age", "disability", "ok"),
    [
        (15, False, False),
        (16, False, True),
        (29, False, True),
        (30, False, False),
        (45, True, True),
        (15, True, False),
    ],
)
def test_apprenticeship_age_rule_is_16_to_29_without_upper_limit_for_rqth(
    age: int, disability: bool, ok: bool
) -> None:
    offer = apprenticeship()
    person = apprentice(birth_year=offer.start_date.year - age, recognised_disability=disability)
    expected = [] if ok else [Refusal.AGE_OUTSIDE_APPRENTICESHIP]
    assert refusals(person, offer, TODAY) == expected


def test_apprenticeship_age_counts_at_the_contract_start() -> None:
    # 29 this year, but the contract starts next year, at 30.
    offer = apprenticeship(start_date=TODAY.replace(year=TODAY.year + 1, month=1, day=15))
    person = apprentice(birth_year=TODAY.year - 29)
    assert refusals(person, offer, TODAY) == [Refusal.AGE_OUTSIDE_APPRENTICESHIP]


def test_apprenticeship_needs_a_known_age() -> None:
    assert refusals(apprentice(birth_year=None), apprenticeship(), TODAY) == [Refusal.AGE_UNKNOWN]


def test_immersion_goes_only_to_candidates_who_asked_for_discovery() -> None:
    assert refusals(candidate(wants_immersion=False), immersion(), TODAY) == [Refusal.IMMERSION_NOT_ASKED]
    assert refusals(candidate(wants_immersion=True), immersion(), TODAY) == []


def test_training_goes_to_reconversion_candidates_lacking_the_diploma() -> None:
    switching = candidate(kind=CandidateKind.RECONVERSION, diplomas=frozenset(), experience=())
    assert refusals(switching, training(), TODAY) == []
    assert refusals(candidate(diplomas=frozenset()), training(), TODAY) == [Refusal.NOT_IN_RECONVERSION]
    holder = replace(switching, diplomas=frozenset({Diploma.DEAS}))
    assert refusals(holder, training(), TODAY) == [Refusal.DIPLOMA_ALREADY_HELD]


def test_training_towards_an_unregulated_metier_is_not_proposed() -> None:
    switching = candidate(kind=CandidateKind.RECONVERSION, wanted=("K1311",), diplomas=frozenset())
    offer = training(rome="K1311", training_diploma=Diploma.TP_ADVF)
    assert refusals(switching, offer, TODAY) == [Refusal.TRAINING_NOT_REGULATED]


def test_training_whose_applications_closed_is_not_proposed() -> None:
    switching = candidate(kind=CandidateKind.RECONVERSION, diplomas=frozenset())
    offer = training(application_deadline=TODAY - timedelta(days=1))
    assert refusals(switching, offer, TODAY) == [Refusal.APPLICATIONS_CLOSED]


def test_every_broken_rule_is_reported() -> None:
    person = candidate(diplomas=frozenset(), accepts_night=False, radius_km=5.0)
    assert set(refusals(person, vacancy(night=True), TODAY)) == {
        Refusal.DIPLOMA_MISSING,
        Refusal.NIGHT_NOT_ACCEPTED,
        Refusal.TOO_FAR,
    }
