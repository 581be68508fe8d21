"""The score rewards what the design says, and the reasons say it in French."""

from __future__ import annotations

from datetime import timedelta

import pytest
from vocation_matching.core.ranking import brute_force_for_offer
from vocation_matching.core.reasons import MAX_REASONS, MIN_REASONS, distance_phrase
from vocation_matching.core.rules import evaluate
from vocation_matching.core.score import WEIGHTS, Weights
from vocation_matching.testing import (
    TODAY,
    apprentice,
    apprenticeship,
    candidate,
    immersion,
    training,
    vacancy,
)
from vocation_shared.contracts.vocabulary import CandidateKind, LifeExperience

pytestmark = pytest.mark.unit


def _score(**overrides: object) -> int:
    offer = overrides.pop("offer", vacancy())
    outcome = evaluate(candidate(**overrides), offer, TODAY)  # type: ignore[arg-type]
    assert outcome.matches, outcome.refusals
    return outcome.score


def test_weights_add_up_to_100() -> None:
    w = WEIGHTS
    total = w.distance + w.exact_metier + w.experience + w.life_experience + w.schedule + w.housing + w.start
    assert total == 100
    assert isinstance(w, Weights)


def test_score_is_between_0_and_100() -> None:
    assert 0 <= _score() <= 100


def test_nearer_candidate_scores_higher() -> None:
    assert _score(radius_km=200.0) > _score(radius_km=30.0)


def test_exact_metier_scores_higher_than_close_metier() -> None:
    offer = vacancy(rome="J1304", required_diploma=None)
    exact = _score(offer=offer, wanted=("J1304",))
    close = _score(offer=offer, wanted=("J1501",), accepts_close=True)
    assert exact - close == WEIGHTS.exact_metier - WEIGHTS.close_metier


def test_experience_in_the_metier_scores_higher() -> None:
    assert _score(experience=(("J1501", 24),)) > _score(experience=())


def test_caring_for_a_relative_counts_towards_home_care() -> None:
    offer = vacancy(rome="K1311", required_diploma=None)
    base = {"offer": offer, "wanted": ("K1311",), "experience": ()}
    carer = _score(life_experience=frozenset({LifeExperience.CARING_FOR_RELATIVE}), **base)
    assert carer - _score(**base) == WEIGHTS.life_experience


def test_caring_for_a_relative_does_not_count_towards_aide_soignant() -> None:
    assert _score(life_experience=frozenset({LifeExperience.CARING_FOR_RELATIVE})) == _score()


def test_housing_needed_and_offered_scores_higher_than_needed_and_not_offered() -> None:
    assert _score(needs_housing=True, offer=vacancy(housing_offered=True)) > _score(needs_housing=True)


def test_nights_and_weekends_lower_the_schedule_points() -> None:
    assert _score(offer=vacancy(night=True, weekend=True)) == _score() - WEIGHTS.schedule


def test_far_start_scores_lower_than_near_start() -> None:
    far = vacancy(start_date=TODAY + timedelta(days=120))
    assert _score(offer=far) < _score()


def test_reasons_tell_distance_diploma_and_contract_in_french() -> None:
    outcome = evaluate(candidate(), vacancy(housing_offered=True), TODAY)
    matches = brute_force_for_offer(vacancy(housing_offered=True), [candidate()], TODAY, 10, 0)
    assert outcome.matches
    (match,) = matches
    assert match.reasons[0] == "À 29 km de chez vous"
    assert "Diplôme d'État d'aide-soignant requis : vous l'avez" in match.reasons
    assert "CDI à temps plein" in match.reasons
    assert "Logement proposé" in match.reasons


@pytest.mark.parametrize(
    ("person", "offer"),
    [
        (candidate(), vacancy()),
        (candidate(needs_housing=True, accepts_close=True, wanted=("J1304",)), vacancy(housing_offered=True)),
        (apprentice(), apprenticeship()),
        (candidate(wants_immersion=True), immersion()),
        (candidate(kind=CandidateKind.RECONVERSION, diplomas=frozenset(), experience=()), training()),
        (
            candidate(
                wanted=("K1311",),
                experience=(("K1311", 7),),
                life_experience=frozenset({LifeExperience.CARING_FOR_RELATIVE}),
                needs_housing=True,
            ),
            vacancy(rome="K1311", required_diploma=None, housing_offered=True),
        ),
    ],
)
def test_every_match_has_two_to_five_short_reasons(person: object, offer: object) -> None:
    (match,) = brute_force_for_offer(offer, [person], TODAY, 10, 0)  # type: ignore[list-item,arg-type]
    assert MIN_REASONS <= len(match.reasons) <= MAX_REASONS
    assert all(0 < len(reason) <= 300 for reason in match.reasons)


def test_apprentice_is_told_the_distance_to_school_and_that_the_diploma_is_prepared() -> None:
    (match,) = brute_force_for_offer(apprenticeship(), [apprentice()], TODAY, 10, 0)
    assert match.reasons[1] == "À moins d'1 km de votre école"
    assert any("préparé en alternance" in reason for reason in match.reasons)


def test_distance_phrases() -> None:
    assert distance_phrase(12.4) == "À 12 km de chez vous"
    assert distance_phrase(0.3) == "À moins d'1 km de chez vous"
