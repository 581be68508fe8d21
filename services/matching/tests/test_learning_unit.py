"""What a « Pas pour moi » teaches and what a hire fills: the core's rules, then the handlers on fakes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from vocation_matching.core.learning import NARROWED_RADIUS_SHARE, learn, lesson_of
from vocation_matching.core.model import OfferSource, close_metiers
from vocation_matching.core.reasons import CLOSER_AS_ASKED, HOURS_AS_ASKED
from vocation_matching.core.rules import Refusal, evaluate, metier_relation
from vocation_matching.core.score import distance_km
from vocation_matching.core.state import MatchingState
from vocation_matching.handlers import Handlers
from vocation_matching.settings import MatchingSettings
from vocation_matching.testing import TODAY, FakeMatchEvents, FakeMetrics, FakeUnitsOfWork, FixedClock
from vocation_matching.testing import candidate as make_candidate
from vocation_matching.testing import vacancy as make_vacancy
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.vocabulary import (
    ApplicationAnswer,
    ContractType,
    MatchDeclineReason,
    MatchWithdrawalReason,
    OfferKind,
)
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit
SOURCE = "urn:test"
AMBERIEU = (45.958, 5.358)
NEAR = {"lat": 46.03, "lon": 5.33}  # ~8 km from Ambérieu
MIDDLE = {"lat": 46.15, "lon": 5.28}  # ~22 km
FAR = {"lat": 46.25, "lon": 5.25}  # ~34 km, within the 40 km radius

# --- the core: pure -------------------------------------------------------------------------


def test_too_far_caps_the_radius_below_the_declined_offer_and_says_so() -> None:
    person = make_candidate(position=AMBERIEU, radius_km=40.0)
    far = make_vacancy(id="far", position=(FAR["lat"], FAR["lon"]))
    d = distance_km(AMBERIEU, far.position)  # type: ignore[arg-type]
    taught = learn(person, [lesson_of(person, far.key, MatchDeclineReason.TOO_FAR, far)])
    assert taught.radius_km == pytest.approx(d * NARROWED_RADIUS_SHARE, rel=1e-6)
    assert taught.declined == {far.key}
    assert evaluate(taught, far, TODAY).refusals == (Refusal.DECLINED, Refusal.TOO_FAR)
    nearer = make_vacancy(id="near", position=(NEAR["lat"], NEAR["lon"]))
    outcome = evaluate(taught, nearer, TODAY)
    assert outcome.matches
    from vocation_matching.core.ranking import best_offers_for

    (match,) = best_offers_for(taught, [nearer], TODAY, 1, 0)
    assert match.reasons[1] == CLOSER_AS_ASKED


def test_a_lesson_ends_when_the_field_it_is_about_changes_but_the_offer_stays_declined() -> None:
    person = make_candidate(position=AMBERIEU, radius_km=40.0)
    far = make_vacancy(id="far", position=(FAR["lat"], FAR["lon"]))
    lesson = lesson_of(person, far.key, MatchDeclineReason.TOO_FAR, far)
    moved_on = learn(replace(person, radius_km=60.0), [lesson])
    assert moved_on.radius_km == 60.0
    assert moved_on.learned == frozenset()
    assert moved_on.declined == {far.key}
    unrelated = learn(replace(person, accepts_weekend=False), [lesson])  # another field: still narrowed
    assert unrelated.radius_km < 40.0


def test_hours_stops_what_the_declined_offer_asked_for_only() -> None:
    person = make_candidate(position=AMBERIEU)
    nights = make_vacancy(id="n", night=True, weekend=False)
    taught = learn(person, [lesson_of(person, nights.key, MatchDeclineReason.HOURS, nights)])
    assert (taught.accepts_night, taught.accepts_weekend) == (False, True)
    day = make_vacancy(id="d", night=False, weekend=True)
    from vocation_matching.core.ranking import best_offers_for

    (match,) = best_offers_for(taught, [day], TODAY, 1, 0)
    assert HOURS_AS_ASKED in match.reasons
    assert not evaluate(taught, make_vacancy(id="n2", night=True), TODAY).matches


def test_metier_stops_that_close_metier_or_the_close_metiers_of_a_wanted_one() -> None:
    person = make_candidate(position=AMBERIEU, wanted=("J1501",), accepts_close=True)
    close = sorted(close_metiers("J1501"))[0]
    near_metier = make_vacancy(id="c", rome=close)
    assert metier_relation(person, close) is True
    taught = learn(person, [lesson_of(person, near_metier.key, MatchDeclineReason.METIER, near_metier)])
    assert metier_relation(taught, close) is None
    assert all(metier_relation(taught, other) is True for other in close_metiers("J1501") - {close})
    exact = make_vacancy(id="e", rome="J1501")
    taught = learn(person, [lesson_of(person, exact.key, MatchDeclineReason.METIER, exact)])
    assert metier_relation(taught, "J1501") is False  # still wanted: the profile says so
    assert all(metier_relation(taught, other) is None for other in close_metiers("J1501"))


def test_contract_stops_that_contract_but_never_the_last_one() -> None:
    person = make_candidate(contract_types=frozenset({ContractType.CDI, ContractType.CDD}))
    cdd = make_vacancy(id="cdd", contract_type=ContractType.CDD)
    taught = learn(person, [lesson_of(person, cdd.key, MatchDeclineReason.CONTRACT, cdd)])
    assert taught.contract_types == {ContractType.CDI}
    only = replace(person, contract_types=frozenset({ContractType.CDD}))
    assert learn(only, [lesson_of(only, cdd.key, MatchDeclineReason.CONTRACT, cdd)]).contract_types == {
        ContractType.CDD
    }


# --- the handlers on fakes ----------------------------------------------------------------------


def _vacancy(name: str, version: int = 1, event: type[Any] = ev.VacancyPosted, **overrides: Any) -> AnyEvent:
    data = p.Vacancy.model_validate(samples.vacancy(id=name, version=version, **overrides))
    built: AnyEvent = event.build(data, source=SOURCE, id=f"e-{name}-{version}")
    return built


def _candidate(n: int, **overrides: Any) -> AnyEvent:
    profile = p.CandidateRegistration.model_validate(samples.candidate(id=f"cand-{n}", **overrides))
    return ev.CandidateRegistered.build(profile, source=SOURCE, id=f"e-cand-{n}-{profile.version}")


def _pair(candidate: int, offer: str) -> dict[str, str]:
    cid = f"cand-{candidate}"
    return {"application_id": p.application_id_of(cid, offer), "candidate_id": cid, "offer_id": offer}


def _declined(candidate: int, offer: str, reason: MatchDeclineReason | None, event_id: str = "") -> AnyEvent:
    data = p.MatchDeclined(
        **_pair(candidate, offer),
        offer_kind=OfferKind.VACANCY,
        reason=reason,
        declined_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    return ev.MatchDeclined.build(data, source=SOURCE, id=event_id or f"e-decl-{candidate}-{offer}")


def _hired(candidate: int, offer: str, event_id: str = "") -> AnyEvent:
    data = p.ApplicationAnswered(
        **_pair(candidate, offer),
        answer=ApplicationAnswer.HIRED,
        answered_at=datetime(2026, 12, 2, tzinfo=UTC),
    )
    return ev.ApplicationAnswered.build(data, source=SOURCE, id=event_id or f"e-hire-{candidate}-{offer}")


class World:
    """The handlers on a state and fake ports; `units` may be shared to play a restart."""

    def __init__(self, units: FakeUnitsOfWork | None = None) -> None:
        self.state = MatchingState.empty()
        self.units = units or FakeUnitsOfWork()
        self.events = FakeMatchEvents(self.units.db)
        self.handlers = Handlers(
            self.state,
            self.units,
            self.events,
            MatchingSettings(min_score=0),
            FixedClock(TODAY),
            FakeMetrics(),
        )

    async def offers(self, *events: AnyEvent) -> None:
        for event in events:
            self.state.apply(event)
        await self.handlers.on_offer_events(list(events))

    async def candidates(self, *events: AnyEvent) -> None:
        for event in events:
            self.state.apply(event)
        await self.handlers.on_candidate_events(list(events))


async def test_a_declined_offer_is_never_proposed_again_even_once_updated() -> None:
    world = World()
    await world.candidates(_candidate(1), _candidate(2))
    await world.offers(_vacancy("v"))
    assert world.events.found_ids == ["vac.v.v1.cand-1", "vac.v.v1.cand-2"]
    await world.handlers.on_application_events([_declined(1, "v", None)])
    await world.offers(_vacancy("v", 2, ev.VacancyUpdated, housing_offered=False, title="Autre titre"))
    assert world.events.found_ids[2:] == ["vac.v.v2.cand-2"]
    assert world.events.withdrawn_ids == []  # said already: the refused match is not withdrawn for it


async def test_too_far_then_a_farther_offer_is_not_proposed_and_a_nearer_one_is() -> None:
    world = World()
    await world.candidates(_candidate(1))
    await world.offers(_vacancy("middle", position=MIDDLE))
    await world.handlers.on_application_events([_declined(1, "middle", MatchDeclineReason.TOO_FAR)])
    world.events.found_matches.clear()
    await world.offers(_vacancy("far", position=FAR), _vacancy("near", position=NEAR))
    assert [m.offer.id for m in world.events.found_matches] == ["near"]
    assert CLOSER_AS_ASKED in world.events.found_matches[0].reasons


async def test_a_refusal_replayed_or_repeated_changes_nothing_and_the_first_one_wins() -> None:
    world = World()
    await world.candidates(_candidate(1))
    await world.offers(_vacancy("middle", position=MIDDLE))
    first = _declined(1, "middle", MatchDeclineReason.TOO_FAR)
    await world.handlers.on_application_events([first, first])
    await world.handlers.on_application_events([_declined(1, "middle", MatchDeclineReason.OTHER, "e-again")])
    ((event_id, lesson),) = world.units.db.declines.values()
    assert (event_id, lesson.reason) == (first.id, MatchDeclineReason.TOO_FAR)
    assert world.state.lessons["cand-1"][lesson.offer].reason is MatchDeclineReason.TOO_FAR


async def test_a_profile_change_of_the_field_ends_the_lesson() -> None:
    world = World()
    await world.candidates(_candidate(1))
    await world.offers(_vacancy("middle", position=MIDDLE))
    await world.handlers.on_application_events([_declined(1, "middle", MatchDeclineReason.TOO_FAR)])
    await world.candidates(_candidate(1, version=2, mobility_radius_km=45))
    world.events.found_matches.clear()
    await world.offers(_vacancy("far", position=FAR))
    assert [m.offer.id for m in world.events.found_matches] == ["far"]


async def test_a_hire_filling_the_last_post_withdraws_the_other_matches_once() -> None:
    world = World()
    await world.candidates(_candidate(1), _candidate(2), _candidate(3))
    await world.offers(_vacancy("v", posts=2))
    await world.handlers.on_application_events([_hired(1, "v"), _hired(1, "v", "e-hire-again")])
    assert world.events.withdrawn_ids == []  # one post of two: the same application counts once
    assert world.state.offers.get((OfferSource.VACANCY, "v")).open  # type: ignore[union-attr]
    await world.handlers.on_application_events([_hired(2, "v")])
    assert sorted(world.events.withdrawn_ids) == [("vac.v.v1.cand-3", MatchWithdrawalReason.OFFER_FILLED)]
    assert sorted(world.units.db.hires) == sorted(p.application_id_of(f"cand-{n}", "v") for n in (1, 2))
    await world.candidates(_candidate(4))
    assert "vac.v.v1.cand-4" not in world.events.found_ids  # filled: no longer proposed


async def test_the_partner_s_count_and_the_platform_s_hires_fill_by_their_maximum() -> None:
    world = World()
    await world.candidates(_candidate(1), _candidate(2))
    await world.offers(_vacancy("v", posts=2, posts_filled=1))
    await world.handlers.on_application_events([_hired(1, "v")])
    assert world.state.offers.get((OfferSource.VACANCY, "v")).open  # type: ignore[union-attr]
    await world.handlers.on_application_events([_hired(2, "v")])
    assert world.state.offers.get((OfferSource.VACANCY, "v")).filled  # type: ignore[union-attr]


async def test_a_withdrawn_candidate_s_refusals_go_with_them() -> None:
    world = World()
    await world.candidates(_candidate(1))
    await world.offers(_vacancy("middle", position=MIDDLE))
    await world.handlers.on_application_events([_declined(1, "middle", MatchDeclineReason.TOO_FAR)])
    withdrawn = ev.CandidateWithdrawn.build(
        p.CandidateWithdrawn(candidate_id="cand-1", erasure_requested=True), source=SOURCE, id="e-wd"
    )
    await world.candidates(withdrawn)
    assert world.units.db.declines == {}
    assert world.state.lessons == {}
    assert world.state.raw == {}


async def test_a_restart_rebuilds_the_refusals_and_hires_from_what_was_kept() -> None:
    before = World()
    await before.candidates(_candidate(1), _candidate(2))
    await before.offers(_vacancy("middle", position=MIDDLE), _vacancy("v", posts=1))
    await before.handlers.on_application_events(
        [_declined(1, "middle", MatchDeclineReason.TOO_FAR), _hired(2, "v")]
    )
    after = World(before.units)
    for event in (_candidate(1), _candidate(2), _vacancy("middle", position=MIDDLE), _vacancy("v", posts=1)):
        after.state.apply(event)
    await after.handlers.load_learning()
    assert after.state.candidates.get("cand-1") == before.state.candidates.get("cand-1")
    assert after.state.offers.get((OfferSource.VACANCY, "v")).filled  # type: ignore[union-attr]
    assert after.state.candidates.get("cand-1").radius_km < 40  # type: ignore[union-attr]


def test_a_hire_read_before_its_vacancy_fills_it_when_it_arrives() -> None:
    state = MatchingState.empty()
    assert not state.hire("v", p.application_id_of("cand-1", "v"))
    state.apply(_vacancy("v", posts=1))
    vacancy = state.offers.get((OfferSource.VACANCY, "v"))
    assert vacancy is not None and vacancy.filled and not vacancy.open
