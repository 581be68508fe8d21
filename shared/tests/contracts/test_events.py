"""Behaviour of the event contracts: round trips and precise rejections."""

from __future__ import annotations

from typing import Any

import pytest
from vocation_shared.contracts import EVENT_MODELS, InvalidEvent, parse_event
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit


def _rejection(document: dict[str, Any]) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(document)
    return caught.value


def _pointers(error: InvalidEvent) -> list[str]:
    return [e.pointer for e in error.errors]


def test_vacancy_posted_round_trips_through_json() -> None:
    document = samples.cloud_event("fr.vocation.vacancy.posted.v1", "vac-0001", samples.vacancy())
    event = parse_event(document)
    assert isinstance(event, ev.VacancyPosted)
    assert event.data.schedule.night is True
    again = parse_event(event.to_json_bytes())
    assert again == event


def test_built_event_has_fresh_id_subject_and_time() -> None:
    vacancy = p.Vacancy.model_validate(samples.vacancy())
    event = ev.VacancyPosted.build(vacancy, source="urn:partner:test")
    assert event.subject == "vac-0001"
    assert event.time.tzinfo is not None
    assert event.id != ev.VacancyPosted.build(vacancy, source="urn:partner:test").id


def test_every_event_type_is_on_its_topic_and_named_in_the_past_tense() -> None:
    types = [m.TYPE for m in EVENT_MODELS]
    assert len(types) == len(set(types))
    for model in EVENT_MODELS:
        fact = model.TYPE.split(".")[-2]
        assert fact.endswith("ed") or fact in {"withdrawn", "sent", "found"}, model.TYPE


def test_unknown_rome_code_is_rejected_with_its_pointer() -> None:
    error = _rejection(
        samples.cloud_event("fr.vocation.vacancy.posted.v1", "vac-0001", samples.vacancy(rome_code="Z9999"))
    )
    assert "/data/rome_code" in _pointers(error)


def test_unknown_insee_code_is_rejected() -> None:
    error = _rejection(
        samples.cloud_event(
            "fr.vocation.vacancy.posted.v1", "vac-0001", samples.vacancy(commune_insee="01999")
        )
    )
    assert "/data/commune_insee" in _pointers(error)
    assert "unknown INSEE" in str(error)


def test_siret_failing_luhn_is_rejected() -> None:
    data = samples.vacancy()
    data["establishment"] = {**data["establishment"], "siret": "73282932000075"}
    error = _rejection(samples.cloud_event("fr.vocation.vacancy.posted.v1", "vac-0001", data))
    assert "/data/establishment/siret" in _pointers(error)
    assert "Luhn" in str(error)


def test_la_poste_siret_follows_its_own_rule() -> None:
    from vocation_shared.contracts.fields import siret_checksum_ok

    assert siret_checksum_ok(samples.SIRET_SAAD_MONT_DE_MARSAN)
    assert siret_checksum_ok(samples.SIRET_EHPAD_BOURG)
    assert not siret_checksum_ok("12345678901234")


def test_dates_out_of_order_are_rejected() -> None:
    error = _rejection(
        samples.cloud_event(
            "fr.vocation.vacancy.posted.v1",
            "vac-0001",
            samples.vacancy(contract_type="cdd", start_date="2026-12-01", end_date="2026-11-01"),
        )
    )
    assert "before start date" in str(error)


def test_negative_radius_is_rejected() -> None:
    error = _rejection(
        samples.cloud_event(
            "fr.vocation.candidate.registered.v1",
            "cand-0001",
            samples.candidate(mobility_radius_km=-5),
        )
    )
    assert "/data/mobility_radius_km" in _pointers(error)


def test_phone_must_be_e164() -> None:
    contact = {"candidate_id": "cand-0001", "phone": "06 12 34 56 78", "channels": ["sms"]}
    error = _rejection(samples.cloud_event("fr.vocation.contact.registered.v1", "cand-0001", contact))
    assert "/data/phone" in _pointers(error)
    assert "E.164" in str(error)


def test_international_phone_with_spaces_is_normalised() -> None:
    contact = {"candidate_id": "cand-0001", "phone": "+33 6 12 34 56 78", "channels": ["sms"]}
    event = parse_event(samples.cloud_event("fr.vocation.contact.registered.v1", "cand-0001", contact))
    assert isinstance(event, ev.ContactRegistered)
    assert event.data.phone == "+33612345678"


def test_first_name_is_trimmed_and_must_be_one_short_line() -> None:
    contact = {"candidate_id": "cand-0001", "first_name": "  Marie-Noëlle ", "channels": []}
    event = parse_event(samples.cloud_event("fr.vocation.contact.registered.v1", "cand-0001", contact))
    assert isinstance(event, ev.ContactRegistered) and event.data.first_name == "Marie-Noëlle"
    for bad in ("Léa\nBcc: x@y.fr", "", "x" * 61):
        contact = {"candidate_id": "cand-0001", "first_name": bad, "channels": []}
        error = _rejection(samples.cloud_event("fr.vocation.contact.registered.v1", "cand-0001", contact))
        assert "/data/first_name" in _pointers(error)


def test_subject_must_be_the_entity_id() -> None:
    error = _rejection(samples.cloud_event("fr.vocation.vacancy.posted.v1", "vac-9999", samples.vacancy()))
    assert "subject must be the entity id" in str(error)


def test_unknown_type_and_unknown_field_are_told_apart() -> None:
    unknown = _rejection(
        samples.cloud_event("fr.vocation.vacancy.exploded.v1", "vac-0001", samples.vacancy())
    )
    assert unknown.kind == "unknown-type"
    extra = _rejection(
        samples.cloud_event("fr.vocation.vacancy.posted.v1", "vac-0001", samples.vacancy(salary="lots"))
    )
    assert extra.kind == "invalid"
    assert "/data/salary" in _pointers(extra)


def test_unparsable_bytes_are_told_apart_from_schema_errors() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(b"{not json")
    assert caught.value.kind == "unparsable"
    with pytest.raises(InvalidEvent) as caught:
        parse_event(b"[1, 2]")
    assert caught.value.kind == "not-an-event"


def test_naive_time_is_rejected() -> None:
    error = _rejection(
        samples.cloud_event(
            "fr.vocation.vacancy.posted.v1",
            "vac-0001",
            samples.vacancy(),
            time="2026-11-22T08:00:00",
        )
    )
    assert "/time" in _pointers(error)


def test_apprentice_needs_school_and_birth_year() -> None:
    error = _rejection(
        samples.cloud_event(
            "fr.vocation.apprentice.registered.v1",
            "cand-0001",
            samples.candidate(kind="apprentice", birth_year=None),
        )
    )
    assert "apprenticeship plan" in str(error)


def test_registration_with_contact_splits_into_profile_and_contact() -> None:
    data = samples.candidate(contact={"email": "lea.martin@example.org", "channels": ["email"]})
    event = parse_event(samples.cloud_event("fr.vocation.candidate.registered.v1", "cand-0001", data))
    assert isinstance(event, ev.CandidateRegistered)
    profile = event.data.profile()
    assert "contact" not in profile.model_dump()
    assert event.data.contact is not None
    assert event.data.contact.email == "lea.martin@example.org"


def test_consented_channel_needs_an_address() -> None:
    contact = {"candidate_id": "cand-0001", "channels": ["email"]}
    error = _rejection(samples.cloud_event("fr.vocation.contact.registered.v1", "cand-0001", contact))
    assert "no email address" in str(error)


def test_unknown_diploma_is_rejected() -> None:
    error = _rejection(
        samples.cloud_event(
            "fr.vocation.vacancy.posted.v1",
            "vac-0001",
            samples.vacancy(required_diploma="BAC_PRO_XYZ"),
        )
    )
    assert "/data/required_diploma" in _pointers(error)
