"""The in-memory state follows the compacted topics: last version wins, tombstones erase."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from vocation_matching.core.model import OfferSource, candidate_from_profile, offer_from_vacancy
from vocation_matching.core.state import MatchingState
from vocation_matching.testing import TODAY
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.vocabulary import OfferKind
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit
SOURCE = "urn:test"


def _candidate_event(**overrides: Any) -> AnyEvent:
    profile = p.CandidateRegistration.model_validate(samples.candidate(**overrides))
    return ev.CandidateRegistered.build(profile, source=SOURCE)


def _vacancy_event(event: type[Any] = ev.VacancyPosted, **overrides: Any) -> AnyEvent:
    built: AnyEvent = event.build(p.Vacancy.model_validate(samples.vacancy(**overrides)), source=SOURCE)
    return built


def test_registered_candidate_is_indexed_and_matched() -> None:
    state = MatchingState.empty()
    state.apply(_candidate_event())
    offer = offer_from_vacancy(p.Vacancy.model_validate(samples.vacancy()))
    assert [m.candidate_id for m in state.candidates.match_offer(offer, TODAY, 10, 0)] == ["cand-0001"]


def test_older_candidate_version_does_not_replace_a_newer_one() -> None:
    state = MatchingState.empty()
    state.apply(_candidate_event(version=3))
    state.apply(_candidate_event(version=2, mobility_radius_km=1))
    assert state.candidates.version_of("cand-0001") == 3


def test_withdrawn_and_tombstoned_candidates_leave_the_index() -> None:
    state = MatchingState.empty()
    state.apply(_candidate_event())
    state.apply(_candidate_event(id="cand-0002"))
    gone = p.CandidateWithdrawn(candidate_id="cand-0001")
    state.apply(ev.CandidateWithdrawn.build(gone, source=SOURCE))
    state.apply_tombstone("candidates", "cand-0002")
    assert len(state.candidates) == 0


def test_closed_vacancy_is_kept_closed_and_tombstone_removes_it() -> None:
    state = MatchingState.empty()
    state.apply(_vacancy_event())
    state.apply(_vacancy_event(ev.VacancyClosed, status="closed", version=2))
    offer = state.offers.get((OfferSource.VACANCY, "vac-0001"))
    assert offer is not None and not offer.open and offer.version == 2
    state.apply_tombstone("vacancies", "vac-0001")
    assert state.offers.get((OfferSource.VACANCY, "vac-0001")) is None


def test_accepted_shift_fills_the_vacancy() -> None:
    state = MatchingState.empty()
    state.apply(_vacancy_event(urgent=True, contract_type="remplacement", end_date="2026-12-01"))
    accepted = p.ShiftAccepted(vacancy_id="vac-0001", candidate_id="cand-0001", accepted_at=datetime.now(UTC))
    state.apply(ev.ShiftAccepted.build(accepted, source=SOURCE))
    offer = state.offers.get((OfferSource.VACANCY, "vac-0001"))
    assert offer is not None and offer.filled and not offer.open


def test_vacancy_with_every_post_filled_is_not_open() -> None:
    offer = offer_from_vacancy(p.Vacancy.model_validate(samples.vacancy(posts=2, posts_filled=2)))
    assert not offer.open and offer.filled


def test_apprenticeship_contract_makes_an_apprenticeship_offer() -> None:
    offer = offer_from_vacancy(p.Vacancy.model_validate(samples.vacancy(contract_type="apprentissage")))
    assert offer.kind is OfferKind.APPRENTICESHIP


def test_candidate_profile_without_contact_data_is_converted_with_commune_position() -> None:
    profile = p.CandidateProfile.model_validate(samples.candidate())
    candidate = candidate_from_profile(profile)
    assert candidate.position is not None
    assert candidate.months_in("J1501") == 30
