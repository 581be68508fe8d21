"""The pure core: booking decisions, search queries, bounding boxes, cursors and projections."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from math import cos, radians
from typing import Any

import pytest
from vocation_catalogue.core import booking
from vocation_catalogue.core.observatory import NeedCounts, ObservatoryQuery, build_observatory_query, report
from vocation_catalogue.core.projection import vacancy_row
from vocation_catalogue.core.search import (
    Area,
    Catalogue,
    QueryError,
    SearchParams,
    Sort,
    build_query,
    decode_cursor,
    encode_cursor,
)
from vocation_catalogue.core.text import fold, search_terms
from vocation_catalogue.testing import NOW, TODAY, request_event, slot_payload, vacancy_event
from vocation_shared.contracts.vocabulary import ImmersionRefusalReason, OfferStatus
from vocation_shared.reference import EARTH_RADIUS_KM, haversine_km

pytestmark = pytest.mark.unit

Reason = ImmersionRefusalReason


def _decide(
    slot_fields: dict[str, object] | None, start: str, end: str, held: list[booking.DateRange] | None = None
) -> booking.Decision:
    slot = slot_payload("s1", **slot_fields) if slot_fields is not None else None
    request = request_event("s1", "r1", "c1", start, end).data
    return booking.decide(request, slot, held or [], TODAY)


def test_request_within_an_open_slot_with_places_is_booked_and_the_slot_moves_on() -> None:
    decision = _decide({}, "2026-12-01", "2026-12-12")
    assert isinstance(decision, booking.Booked)
    assert (decision.slot.places_left, decision.slot.version, decision.slot.status) == (
        4,
        2,
        OfferStatus.OPEN,
    )


def test_last_place_booked_fills_the_slot() -> None:
    decision = _decide({"places_left": 1}, "2026-12-02", "2026-12-03")
    assert isinstance(decision, booking.Booked)
    assert (decision.slot.places_left, decision.slot.status) == (0, OfferStatus.FILLED)


@pytest.mark.parametrize(
    ("slot_fields", "dates", "held", "reason"),
    [
        (None, ("2026-12-02", "2026-12-03"), [], Reason.SLOT_UNKNOWN),
        ({"status": "closed"}, ("2026-12-02", "2026-12-03"), [], Reason.SLOT_CLOSED),
        (
            {"start_date": "2026-11-01", "end_date": "2026-11-21"},
            ("2026-11-02", "2026-11-03"),
            [],
            Reason.SLOT_PAST,
        ),
        ({}, ("2026-11-30", "2026-12-03"), [], Reason.DATES_OUTSIDE_SLOT),
        ({}, ("2026-12-12", "2026-12-13"), [], Reason.DATES_OUTSIDE_SLOT),
        ({}, ("2026-12-02", "2026-12-03"), [("2026-12-03", "2026-12-09")], Reason.OVERLAPPING_BOOKING),
        ({"places_left": 0}, ("2026-12-02", "2026-12-03"), [], Reason.SLOT_FULL),
        ({"places_left": 0, "status": "filled"}, ("2026-12-02", "2026-12-03"), [], Reason.SLOT_FULL),
    ],
)
def test_request_is_refused_with_the_first_reason_that_applies(
    slot_fields: dict[str, object] | None,
    dates: tuple[str, str],
    held: list[tuple[str, str]],
    reason: ImmersionRefusalReason,
) -> None:
    ranges = [booking.DateRange(date.fromisoformat(a), date.fromisoformat(b)) for a, b in held]
    decision = _decide(slot_fields, *dates, held=ranges)
    assert isinstance(decision, booking.Refused)
    assert decision.reason is reason
    assert decision.message and decision.message[0].isupper()


def test_booking_on_adjacent_dates_is_not_an_overlap() -> None:
    held = [booking.DateRange(date(2026, 12, 1), date(2026, 12, 1))]
    assert isinstance(_decide({}, "2026-12-02", "2026-12-03", held), booking.Booked)


def test_refusal_for_dates_outside_the_slot_tells_both_ranges_in_french() -> None:
    decision = _decide({}, "2026-11-30", "2026-12-03")
    assert isinstance(decision, booking.Refused)
    assert decision.message == (
        "Les dates demandées (du 30/11/2026 au 03/12/2026) sont en dehors du créneau proposé "
        "(du 01/12/2026 au 12/12/2026)."
    )


def test_outcome_events_have_ids_derived_from_the_request() -> None:
    request = request_event("s1", "req-42", "c1").data
    decision = booking.decide(request, slot_payload("s1"), [], TODAY)
    events = booking.outcome_events(request, decision, None, source="urn:vocation:catalogue", now=NOW)
    assert [e.id for e in events] == ["req-42.outcome", "req-42.slot"]
    assert [e.type for e in events] == [
        "fr.vocation.immersion.booked.v1",
        "fr.vocation.immersion-slot.updated.v1",
    ]
    assert events[0].subject == "s1"


def test_partner_slot_state_never_counts_more_places_than_capacity_minus_bookings() -> None:
    settled = booking.settle_slot(slot_payload("s1", capacity=5, places_left=5), booked=5)
    assert (settled.places_left, settled.status) == (0, OfferStatus.FILLED)
    lower = booking.settle_slot(slot_payload("s1", capacity=5, places_left=1), booked=2)
    assert lower.places_left == 1


def test_bounding_box_holds_every_point_of_the_circle() -> None:
    rng = random.Random(7)
    for lat, lon, radius in [
        (46.2, 5.2, 200.0),
        (43.9, -0.5, 30.0),
        (-21.1, 55.5, 120.0),
        (64.0, 10.0, 200.0),
    ]:
        box = Area(lat, lon, radius).bounding_box()
        assert box.lon_min is not None and box.lon_max is not None
        for _ in range(2000):
            plat = lat + rng.uniform(-3, 3)
            plon = lon + rng.uniform(-3, 3) / cos(radians(lat))
            if haversine_km(lat, lon, plat, plon) <= radius:
                assert box.lat_min <= plat <= box.lat_max
                assert box.lon_min <= plon <= box.lon_max


def test_bounding_box_is_tight_in_latitude() -> None:
    box = Area(46.0, 5.0, 111.1950802).bounding_box()
    assert box.lat_max - 46.0 == pytest.approx(
        111.1950802 / (EARTH_RADIUS_KM * 3.141592653589793 / 180), rel=1e-6
    )


def test_query_defaults_to_distance_around_a_place_and_to_date_without() -> None:
    assert build_query(Catalogue.VACANCIES, SearchParams(commune="01053")).sort is Sort.DISTANCE
    assert build_query(Catalogue.VACANCIES, SearchParams()).sort is Sort.DATE
    assert build_query(Catalogue.VACANCIES, SearchParams(q="Aide-Soignante")).sort is Sort.RELEVANCE


def test_cursor_round_trips_exact_values_and_is_bound_to_its_query() -> None:
    query = build_query(Catalogue.VACANCIES, SearchParams(commune="01053", sort=Sort.DISTANCE))
    values = (29.336218489705995, "v-0001")
    token = encode_cursor(query, values)
    assert decode_cursor(token, query) == values
    other = build_query(Catalogue.VACANCIES, SearchParams(commune="01004", sort=Sort.DISTANCE))
    with pytest.raises(QueryError) as refused:
        decode_cursor(token, other)
    assert refused.value.param == "cursor"


def test_dated_cursor_keeps_the_timestamp_with_its_offset() -> None:
    query = build_query(Catalogue.VACANCIES, SearchParams())
    token = encode_cursor(query, (NOW, "v-1"))
    assert decode_cursor(token, query) == (NOW, "v-1")


def test_text_is_folded_without_accents_or_punctuation() -> None:
    assert fold("Aide-Soignant(e) à l'EHPAD « Cœur »") == "aide soignant e a l ehpad coeur"
    assert search_terms("Infirmière  infirmière de NUIT") == ("infirmiere", "de", "nuit")


def test_vacancy_with_all_posts_filled_is_projected_as_filled() -> None:
    row = vacancy_row(vacancy_event("v1", posts=2, posts_filled=2).data, NOW)
    assert row.columns["status"] == "filled"
    open_row = vacancy_row(vacancy_event("v2").data, NOW)
    assert (open_row.columns["status"], open_row.columns["departement"]) == ("open", "01")
    assert (open_row.columns["lat"], open_row.columns["lon"]) == (46.20513, 5.22523)


def test_explicit_position_wins_over_the_town_hall() -> None:
    row = vacancy_row(vacancy_event("v1", position={"lat": 46.3, "lon": 5.23}).data, NOW)
    assert (row.columns["lat"], row.columns["lon"]) == (46.3, 5.23)


def test_owner_slot_event_older_than_its_last_is_stale() -> None:
    assert (
        booking.owner_change(slot_payload("s1", version=2), booked=0, stored_version=5, owner_version=2)
        is None
    )


def test_owner_slot_event_behind_the_catalogue_versions_becomes_the_next_version() -> None:
    change = booking.owner_change(
        slot_payload("s1", version=2, status="closed", places_left=5),
        booked=2,
        stored_version=3,
        owner_version=1,
    )
    assert change is not None
    assert (change.slot.version, change.slot.places_left, change.slot.status, change.republish) == (
        4,
        3,
        OfferStatus.CLOSED,
        True,
    )


def test_owner_slot_event_ahead_and_consistent_is_stored_as_sent() -> None:
    sent = slot_payload("s1", version=4, places_left=3)
    change = booking.owner_change(sent, booked=2, stored_version=3, owner_version=1)
    assert change == booking.SlotChange(sent, republish=False)


def test_request_starting_before_today_in_a_running_slot_is_refused_with_its_own_message() -> None:
    slot = slot_payload("s1", start_date="2026-11-16", end_date="2026-11-27")
    request = request_event("s1", "r1", "c1", "2026-11-20", "2026-11-24").data
    decision = booking.decide(request, slot, [], TODAY)
    assert isinstance(decision, booking.Refused)
    assert decision.reason is Reason.DATES_OUTSIDE_SLOT
    assert decision.message.startswith("Les dates demandées commencent le 20/11/2026, une date déjà passée")


def test_observatory_merges_each_catalogues_figures_and_puts_the_most_posts_to_fill_first() -> None:
    parts = [
        NeedCounts("01", "J1501", open_vacancies=2, open_posts=3, median_days_open=12.04),
        NeedCounts("40", "J1506", open_vacancies=1, open_posts=5),
        NeedCounts("01", "J1501", immersion_places=5, immersion_places_taken=2),
        NeedCounts("01", "J1501", training_places_left=12),
    ]
    answer = report(parts, ObservatoryQuery(), datetime(2026, 11, 22, 9, 0, tzinfo=UTC))
    needs: Any = answer["needs"]
    assert [(n["departement"], n["rome_code"]) for n in needs] == [("40", "J1506"), ("01", "J1501")]
    ain = needs[1]
    assert (ain["open_posts"], ain["immersion_places"], ain["training_places_left"]) == (3, 5, 12)
    assert ain["median_days_open"] == 12.0 and ain["median_days_to_fill"] is None
    assert ain["metier"] and ain["priority"] is True
    assert answer["totals"] == {
        **dict.fromkeys(answer["totals"], 0),  # type: ignore[call-overload]
        "open_vacancies": 3,
        "open_posts": 8,
        "immersion_places": 5,
        "immersion_places_taken": 2,
        "training_places_left": 12,
    }


def test_observatory_hides_counts_of_fewer_than_five_people_and_leaves_them_out_of_the_totals() -> None:
    parts = [
        NeedCounts("01", "J1501", open_posts=3, candidates=6),
        NeedCounts("01", "J1506", open_posts=2, candidates=2),
        NeedCounts("48", "J1501", open_posts=1, candidates=0),
    ]
    answer = report(parts, ObservatoryQuery(), datetime(2026, 11, 22, 9, 0, tzinfo=UTC))
    needs: Any = answer["needs"]
    shown = {
        (n["departement"], n["rome_code"]): (n["candidates"], n["candidates_per_open_post"]) for n in needs
    }
    assert shown == {("01", "J1501"): (6, 2.0), ("01", "J1506"): (None, None), ("48", "J1501"): (0, 0.0)}
    totals: Any = answer["totals"]
    assert totals["candidates"] == 6, "the total would give the hidden count back"
    assert (answer["people_counts_hidden_below"], answer["people_counts_hidden"]) == (5, 1)
    every = report(parts, ObservatoryQuery(), datetime(2026, 11, 22, 9, 0, tzinfo=UTC), min_people=1)
    assert (every["totals"]["candidates"], every["people_counts_hidden"]) == (8, 0)  # type: ignore[index]


def test_observatory_query_keeps_priority_metiers_and_refuses_a_window_out_of_range() -> None:
    assert "J1501" in build_observatory_query(None, [], True, 90).metiers
    assert build_observatory_query(None, ["J1501,A1101"], True, 90).metiers == ("J1501",)
    assert build_observatory_query("2a", [], False, 30).departement == "2A"
    with pytest.raises(QueryError, match="between 1 and 730"):
        build_observatory_query(None, [], False, 731)
