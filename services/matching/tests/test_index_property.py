"""On random populations, the indexes return exactly what evaluating everyone with the plain rules returns."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from vocation_matching.core.index import CandidateIndex, OfferBook
from vocation_matching.core.learning import learn, lesson_of
from vocation_matching.core.model import Candidate, Match, Offer, OfferSource
from vocation_matching.core.ranking import best_offers_for, brute_force_for_offer
from vocation_matching.core.rules import evaluate
from vocation_matching.testing import TODAY
from vocation_shared.contracts.vocabulary import (
    CandidateKind,
    ContractType,
    LifeExperience,
    MatchDeclineReason,
    OfferKind,
    WorkingTime,
)
from vocation_shared.reference import Diploma

pytestmark = pytest.mark.unit

# Métiers with mobility links between them (J1501 → J1304, K1306, K1208; K1306 → J1501…).
METIERS = ("J1501", "J1304", "K1306", "K1311", "K1208")
DIPLOMAS = (Diploma.DEAS, Diploma.DEAP, Diploma.DEAES, Diploma.DEME, Diploma.TP_ADVF)

latitudes = st.floats(45.6, 46.6, allow_nan=False)
longitudes = st.floats(4.8, 5.8, allow_nan=False)
positions = st.one_of(
    st.tuples(latitudes, longitudes),
    st.sampled_from([(46.2, 5.2), (45.96, 5.35)]),
    st.tuples(latitudes, longitudes),
    st.none(),
)
radii = st.sampled_from([0.0, 5.0, 10.0, 29.5, 40.0, 75.0, 200.0, 200.0]) | st.floats(0, 200).map(
    lambda r: float(np.float32(r))
)
mostly = st.sampled_from([True, True, True, False])
rarely = st.sampled_from([False, False, False, True])
days = st.integers(-40, 60).map(lambda n: TODAY + timedelta(days=n))
kinds = st.sampled_from([*CandidateKind, CandidateKind.RECONVERSION, CandidateKind.APPRENTICE])
wanted_lists = st.lists(st.sampled_from(METIERS), min_size=1, max_size=4, unique=True)
diploma_sets = st.sets(st.sampled_from(DIPLOMAS), max_size=3)
experiences = st.dictionaries(st.sampled_from(METIERS), st.integers(0, 600), max_size=2)
life_sets = st.sets(st.sampled_from(LifeExperience), max_size=2)
contract_sets = st.just(frozenset(ContractType)) | st.sets(st.sampled_from(ContractType), min_size=1)
time_sets = st.just(frozenset(WorkingTime)) | st.sets(st.sampled_from(WorkingTime), min_size=1)
birth_years = st.integers(1995, 2011) | st.integers(1950, 2012) | st.none()
diploma_choice = st.sampled_from(DIPLOMAS)
optional_diploma = st.none() | st.none() | diploma_choice
optional_day = st.none() | days
offer_kinds = st.sampled_from(OfferKind)
metier_choice = st.sampled_from(METIERS)
end_offsets = st.none() | st.integers(0, 200)
non_apprentice_contracts = st.sampled_from([c for c in ContractType if c is not ContractType.APPRENTISSAGE])
working_time_choice = st.sampled_from(WorkingTime)


@st.composite
def candidates(draw: st.DrawFn, n: int) -> Candidate:
    apprentice = draw(st.booleans())
    return Candidate(
        id=f"c{n}",
        version=draw(st.integers(1, 3)),
        kind=draw(kinds),
        wanted=tuple(draw(wanted_lists)),
        accepts_close=draw(mostly),
        diplomas=frozenset(draw(diploma_sets)),
        experience=tuple(sorted(draw(experiences).items())),
        life_experience=frozenset(draw(life_sets)),
        wants_immersion=draw(mostly),
        position=draw(positions),
        radius_km=draw(radii),
        driving_licence=draw(mostly),
        available_from=draw(days) - timedelta(days=30),
        contract_types=frozenset(draw(contract_sets)),
        working_times=frozenset(draw(time_sets)),
        accepts_night=draw(mostly),
        accepts_weekend=draw(mostly),
        needs_housing=draw(st.booleans()),
        birth_year=draw(birth_years),
        recognised_disability=draw(st.booleans()),
        school_position=draw(positions) if apprentice else None,
        school_radius_km=draw(radii) if apprentice else None,
        diploma_prepared=draw(diploma_choice) if apprentice else None,
    )


@st.composite
def offers(draw: st.DrawFn, n: int = 0) -> Offer:
    kind = draw(offer_kinds)
    start = draw(days)
    end = None if (k := draw(end_offsets)) is None else start + timedelta(days=k)
    contract = None
    working_time = None
    source = OfferSource.VACANCY
    if kind is OfferKind.APPRENTICESHIP:
        contract = ContractType.APPRENTISSAGE
    elif kind is OfferKind.VACANCY:
        contract = draw(non_apprentice_contracts)
    if contract is not None:
        working_time = draw(working_time_choice)
        if contract is ContractType.CDI:
            end = None
    else:
        source = OfferSource.IMMERSION if kind is OfferKind.IMMERSION else OfferSource.TRAINING
        end = end or start
    return Offer(
        source=source,
        id=f"o{n}",
        version=1,
        kind=kind,
        title="Offre",
        rome=draw(metier_choice),
        commune_insee="01053",
        position=draw(positions),
        start_date=start,
        end_date=end,
        contract_type=contract,
        working_time=working_time,
        night=draw(rarely),
        weekend=draw(rarely),
        required_diploma=draw(optional_diploma) if contract is not None else None,
        training_diploma=draw(diploma_choice) if kind is OfferKind.TRAINING else None,
        application_deadline=draw(optional_day) if kind is OfferKind.TRAINING else None,
        driving_licence_required=draw(rarely),
        housing_offered=draw(st.booleans()),
        open=draw(st.integers(0, 9)) > 0,
    )


decline_reasons = (
    st.none()
    | st.sampled_from(MatchDeclineReason)
    | st.sampled_from(
        [
            MatchDeclineReason.TOO_FAR,
            MatchDeclineReason.HOURS,
            MatchDeclineReason.METIER,
            MatchDeclineReason.CONTRACT,
        ]
    )
)


@st.composite
def learned_candidates(draw: st.DrawFn, n: int) -> Candidate:
    """A candidate narrowed by the offers they declined (`o0`, the offer the tests match, among them),
    some of the lessons learned from an earlier profile (a changed radius, hours, métiers, contracts)."""
    raw = draw(candidates(n))
    lessons = []
    for m in draw(st.lists(st.integers(0, 3), max_size=3)):
        declined = draw(offers(m))
        earlier = raw
        if draw(rarely):
            earlier = replace(
                raw,
                radius_km=draw(radii),
                accepts_night=draw(st.booleans()),
                wanted=tuple(draw(wanted_lists)),
                contract_types=frozenset(draw(contract_sets)),
            )
        lessons.append(lesson_of(earlier, declined.key, draw(decline_reasons), declined))
    return learn(raw, lessons)


@st.composite
def populations(draw: st.DrawFn) -> list[Candidate]:
    size = draw(st.integers(0, 30) | st.integers(15, 30))
    return [draw(learned_candidates(n)) for n in range(size)]


def _summary(matches: list[Match]) -> list[tuple[object, ...]]:
    return [(m.candidate_id, m.offer.id, m.score, m.distance_km, m.close_metier, m.reasons) for m in matches]


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    population=populations(),
    offer=offers(),
    limit=st.integers(1, 12),
    min_score=st.integers(0, 60),
    cell=st.sampled_from([0.1, 0.5, 1.0, 3.0]),
    first_pass=st.sampled_from([1, 3, 512]),
    data=st.data(),
)
def test_indexed_offer_matching_equals_brute_force(
    population: list[Candidate],
    offer: Offer,
    limit: int,
    min_score: int,
    cell: float,
    first_pass: int,
    data: st.DataObject,
) -> None:
    # Some candidates declined the offer itself or a sibling of it (same métier, schedule and
    # contract, elsewhere): the lessons that bear on this very offer, mostly on the candidates it
    # matches so far.
    fitting = [n for n, c in enumerate(population) if evaluate(c, offer, TODAY).matches]
    for n, reason, itself, where in data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(fitting or [0]) | st.integers(0, 30), decline_reasons, rarely, positions
            ),
            max_size=8,
        )
    ):
        if n < len(population):
            sibling = offer if itself else replace(offer, id=f"sibling-{n}", position=where)
            population[n] = learn(population[n], [lesson_of(population[n], sibling.key, reason, sibling)])
    index = CandidateIndex(cell_scale=cell, capacity=4, first_pass=first_pass)
    for candidate in population:
        index.upsert(candidate)
    expected = brute_force_for_offer(offer, population, TODAY, limit, min_score)
    event("some candidates match" if expected else "no candidate matches")
    event("the offer was declined" if any(offer.key in c.declined for c in population) else "not declined")
    event("some profiles narrowed" if any(c.learned for c in population) else "no profile narrowed")
    excluded = any(offer.rome in c.excluded_close and offer.rome not in c.wanted for c in population)
    event("the offer's métier is excluded as a close one" if excluded else "no close métier excluded")
    assert _summary(index.match_offer(offer, TODAY, limit, min_score)) == _summary(expected)
    assert _summary(index.match_offer(offer, TODAY, limit, min_score, brute_force=True)) == _summary(expected)


@SETTINGS
@given(
    population=st.lists(candidates(0), max_size=25).map(
        lambda cs: [replace(c, id=f"c{n}") for n, c in enumerate(cs)]
    ),
    offer=offers(),
    lessons=st.lists(st.tuples(decline_reasons, rarely, positions), min_size=25, max_size=25),
    limit=st.integers(1, 12),
)
def test_lessons_about_the_offer_itself_keep_the_index_exact(
    population: list[Candidate],
    offer: Offer,
    lessons: list[tuple[MatchDeclineReason | None, bool, Any]],
    limit: int,
) -> None:
    """Every candidate declined the offer or a sibling of it (same métier, schedule, contract;
    elsewhere): each lesson bears on this very offer."""
    taught = []
    for candidate, (reason, itself, where) in zip(population, lessons, strict=False):
        sibling = offer if itself else replace(offer, id="sibling", position=where)
        taught.append(learn(candidate, [lesson_of(candidate, sibling.key, reason, sibling)]))
    index = CandidateIndex(capacity=4, first_pass=1)
    for candidate in taught:
        index.upsert(candidate)
    expected = brute_force_for_offer(offer, taught, TODAY, limit, 0)
    untaught = brute_force_for_offer(offer, population, TODAY, limit, 0)
    event("a lesson changed the result" if _summary(expected) != _summary(untaught) else "no change")
    assert _summary(index.match_offer(offer, TODAY, limit, 0)) == _summary(expected)
    assert _summary(index.match_offer(offer, TODAY, limit, 0, brute_force=True)) == _summary(expected)


@SETTINGS
@given(population=populations(), replacements=populations(), offer=offers(), data=st.data())
def test_index_stays_exact_through_updates_removals_compaction_and_purge(
    population: list[Candidate], replacements: list[Candidate], offer: Offer, data: st.DataObject
) -> None:
    index = CandidateIndex(capacity=2, first_pass=1)
    current = {c.id: c for c in population}
    for candidate in population:
        index.upsert(candidate)
    for candidate in replacements:
        index.upsert(candidate)
        current[candidate.id] = candidate
    for candidate_id in data.draw(st.lists(st.sampled_from(sorted(current)), unique=True)) if current else []:
        assert index.remove(candidate_id)
        del current[candidate_id]
    tidying = data.draw(st.sampled_from(["none", "compact", "purge"]))
    if tidying == "compact":
        index.compact()
    elif tidying == "purge":  # what a snapshot does before writing: compact, then blank the dead rows
        index.purge_removed()
    if tidying != "none":
        for candidate in data.draw(st.lists(candidates(99), max_size=3)):
            index.upsert(candidate)
            current[candidate.id] = candidate
    assert len(index) == len(current)
    assert all(index.get(candidate_id) == candidate for candidate_id, candidate in current.items())
    expected = brute_force_for_offer(offer, current.values(), TODAY, 20, 0)
    assert _summary(index.match_offer(offer, TODAY, 20, 0)) == _summary(expected)


@SETTINGS
@given(
    candidate=learned_candidates(0),
    offer_list=st.lists(st.integers(0, 10_000), max_size=30, unique=True).flatmap(
        lambda ns: st.tuples(*(offers(n) for n in ns))
    ),
    limit=st.integers(1, 10),
    min_score=st.integers(0, 60),
)
def test_offer_book_matching_a_new_candidate_equals_brute_force(
    candidate: Candidate, offer_list: tuple[Offer, ...], limit: int, min_score: int
) -> None:
    book = OfferBook()
    for offer in offer_list:
        book.upsert(offer)
    expected = best_offers_for(candidate, offer_list, TODAY, limit, min_score)
    event("some offers match" if expected else "no offer matches")
    assert _summary(book.match_candidate(candidate, TODAY, limit, min_score)) == _summary(expected)


def test_candidate_at_the_edge_of_a_cell_is_found_from_the_next_cell() -> None:
    from vocation_matching.testing import candidate as make_candidate
    from vocation_matching.testing import vacancy

    person = make_candidate(position=(45.9999, 5.2499), radius_km=5.0)
    offer = vacancy(position=(46.0001, 5.2501))
    index = CandidateIndex()
    index.upsert(person)
    assert [m.candidate_id for m in index.match_offer(offer, TODAY, 10, 0)] == [person.id]


@pytest.mark.parametrize("first_pass", [1, 4, 16])
@pytest.mark.parametrize("limit", [1, 5, 20])
def test_threshold_pass_gives_the_brute_force_result_on_a_dense_town(first_pass: int, limit: int) -> None:
    from dataclasses import replace

    from vocation_matching.testing import candidate as make_candidate
    from vocation_matching.testing import vacancy

    people = [
        replace(
            make_candidate(id=f"dense-{n}"),
            position=(46.2 + (n % 17) * 0.003, 5.2 + (n % 13) * 0.004),
            radius_km=float(5 + n % 40),
            experience=(("J1501", (n * 7) % 40),),
            needs_housing=n % 5 == 0,
            accepts_close=True,
            wanted=("J1501",) if n % 3 else ("K1306",),
        )
        for n in range(400)
    ]
    index = CandidateIndex(first_pass=first_pass)
    for person in people:
        index.upsert(person)
    for min_score in (0, 60, 75):
        offer = vacancy(position=(46.21, 5.21))
        expected = brute_force_for_offer(offer, people, TODAY, limit, min_score)
        assert _summary(index.match_offer(offer, TODAY, limit, min_score)) == _summary(expected)
