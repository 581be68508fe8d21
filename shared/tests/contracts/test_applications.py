"""The contracts of the loop from match to hire: applications, answers, refusals, recruiting contacts."""

from __future__ import annotations

from typing import Any

import pytest
from vocation_shared.contracts import InvalidEvent, parse_event
from vocation_shared.contracts.events import EVENT_TYPES, types_on
from vocation_shared.contracts.payloads import application_id_of
from vocation_shared.contracts.producers import Service, forged_reason, partner_forbidden_reason, producers_of
from vocation_shared.contracts.topics import Cleanup, Topic, personal_topics, record_key, spec_of
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit

CANDIDATE = "cand-0001"
OFFER = "vac-0001"
PAIR = application_id_of(CANDIDATE, OFFER)
SUBMITTED = "fr.vocation.application.submitted.v1"
ANSWERED = "fr.vocation.application.answered.v1"
WITHDRAWN = "fr.vocation.application.withdrawn.v1"
DECLINED = "fr.vocation.match.declined.v1"
AT = "2026-12-03T10:00:00+01:00"


def _pair(**overrides: Any) -> dict[str, Any]:
    return {"application_id": PAIR, "candidate_id": CANDIDATE, "offer_id": OFFER, **overrides}


def submitted(**overrides: Any) -> dict[str, Any]:
    return samples.application_submitted(**overrides)


def answered(**overrides: Any) -> dict[str, Any]:
    return samples.application_answered(**overrides)


def _event(event_type: str, data: dict[str, Any]) -> Any:
    return parse_event(samples.cloud_event(event_type, data["candidate_id"], data))


def _refused(event_type: str, data: dict[str, Any]) -> str:
    with pytest.raises(InvalidEvent) as caught:
        _event(event_type, data)
    return str(caught.value)


# --- one application per candidate and offer -------------------------------------------------


def test_the_application_id_is_the_pairs_and_the_same_from_two_tabs() -> None:
    assert application_id_of(CANDIDATE, OFFER) == PAIR
    assert application_id_of(CANDIDATE, "vac-0002") != PAIR
    assert application_id_of("cand-0002", OFFER) != PAIR
    # The separator keeps ("ab", "c") and ("a", "bc") apart.
    assert application_id_of("ab", "c") != application_id_of("a", "bc")
    first, second = _event(SUBMITTED, submitted()), _event(SUBMITTED, submitted())
    assert first.data.application_id == second.data.application_id == PAIR


@pytest.mark.parametrize("event_type", [SUBMITTED, ANSWERED, WITHDRAWN, DECLINED])
def test_an_invented_application_id_is_refused_on_every_fact(event_type: str) -> None:
    data = {
        SUBMITTED: submitted(),
        ANSWERED: answered(),
        WITHDRAWN: _pair(reason="candidate", withdrawn_at=AT),
        DECLINED: _pair(offer_kind="vacancy", reason="too_far", declined_at=AT),
    }[event_type]
    assert _event(event_type, data).subject == CANDIDATE
    assert "application_id" in _refused(event_type, {**data, "application_id": "app-42"})
    assert "application_id" in _refused(
        event_type, {**data, "application_id": application_id_of(CANDIDATE, "x")}
    )


# --- application.submitted ------------------------------------------------------------------------


def test_the_message_is_at_most_1000_characters() -> None:
    assert _event(SUBMITTED, submitted(message="é" * 1000)).data.message == "é" * 1000
    assert "/data/message" in _refused(SUBMITTED, submitted(message="é" * 1001))


def test_the_shared_contact_is_two_flags_never_the_contact_itself() -> None:
    event = _event(SUBMITTED, submitted(shares={"phone": True}))
    assert (event.data.shares.email, event.data.shares.phone) == (False, True)
    assert "/data/shares/email" in _refused(SUBMITTED, submitted(shares={"email": "lea@example.org"}))
    assert "/data/email" in _refused(SUBMITTED, submitted(email="lea@example.org"))
    assert "/data/summary/first_name" in _refused(SUBMITTED, submitted(summary={"first_name": "Léa"}))


def test_one_applies_to_vacancies_and_apprenticeships_only() -> None:
    assert _event(SUBMITTED, submitted(offer_kind="apprenticeship")).data.offer_kind == "apprenticeship"
    assert "vacancy or an apprenticeship" in _refused(SUBMITTED, submitted(offer_kind="immersion"))
    assert "vacancy or an apprenticeship" in _refused(SUBMITTED, submitted(offer_kind="training"))


def test_a_minimal_submission_has_an_empty_summary_and_shares_nothing() -> None:
    data = _pair(offer_kind="vacancy", submitted_at=AT)
    event = _event(SUBMITTED, data)
    assert event.data.message is None
    assert (event.data.shares.email, event.data.shares.phone) == (False, False)
    assert event.data.summary.diplomas == []


# --- application.answered -------------------------------------------------------------------------


def test_a_decline_needs_a_reason_from_the_closed_list_and_only_a_decline_has_one() -> None:
    assert (
        _event(ANSWERED, answered(answer="declined", reason="position_filled")).data.reason
        == "position_filled"
    )
    assert "needs its reason" in _refused(ANSWERED, answered(answer="declined"))
    assert "/data/reason" in _refused(ANSWERED, answered(answer="declined", reason="pas envie"))
    assert "only a declined application" in _refused(ANSWERED, answered(answer="hired", reason="other"))
    assert _event(ANSWERED, answered(answer="hired")).data.answer == "hired"


# --- match.declined ---------------------------------------------------------------------------


def test_a_match_is_declined_with_an_optional_reason_from_the_closed_list() -> None:
    data = _pair(offer_kind="immersion", declined_at=AT)
    assert _event(DECLINED, data).data.reason is None
    for reason in ("too_far", "hours", "contract", "metier", "already_employed", "other"):
        assert _event(DECLINED, {**data, "reason": reason}).data.reason == reason
    assert "/data/reason" in _refused(DECLINED, {**data, "reason": "trop loin"})


# --- topic, keys, producers ---------------------------------------------------------------------


def test_the_applications_topic_holds_personal_facts_compacted_by_tombstones() -> None:
    spec = spec_of(Topic.APPLICATIONS)
    assert spec.cleanup is Cleanup.COMPACT_DELETE
    assert spec.holds_personal_data and not spec.holds_personal_contact_data
    assert Topic.APPLICATIONS in personal_topics()
    assert types_on(Topic.APPLICATIONS) == {SUBMITTED, ANSWERED, WITHDRAWN, DECLINED}
    assert spec_of("applications.dlq").retention_ms == 30 * 24 * 3600 * 1000


def test_an_applications_facts_share_one_key_placed_by_the_candidate() -> None:
    keys = {
        record_key(Topic.APPLICATIONS, event.subject, event.data)
        for event in (_event(SUBMITTED, submitted()), _event(ANSWERED, answered()))
    }
    assert keys == {f"{CANDIDATE}/{PAIR}"}
    # As JSON too (the gateway and the tools key records from the document).
    assert record_key(Topic.APPLICATIONS, CANDIDATE, answered()) == f"{CANDIDATE}/{PAIR}"


def test_the_candidates_acts_are_the_catalogues_and_no_partner_may_state_them() -> None:
    # An answer is the employer's: the owning partner states it too (test_producers.py).
    for event_type in (SUBMITTED, WITHDRAWN, DECLINED):
        assert producers_of(event_type) == {Service.CATALOGUE}, event_type
        assert forged_reason(event_type, Service.CATALOGUE.source) is None
        assert forged_reason(event_type, "urn:partner:a") is not None
        assert forged_reason(event_type, Service.MATCHING.source) is not None
        assert partner_forbidden_reason(event_type, {}) is not None


def test_every_new_type_is_registered() -> None:
    assert {SUBMITTED, ANSWERED, WITHDRAWN, DECLINED} <= set(EVENT_TYPES)


# --- recruiting contacts and the partner's application page ----------------------------------------


CONTACT = {"name": "Claire Dubois", "email": "recrutement@ehpad-tilleuls.example.fr", "phone": "+33474000000"}


def _establishment(**overrides: Any) -> dict[str, Any]:
    data = {
        "id": "etab-ehpad-bourg",
        "siret": samples.SIRET_EHPAD_BOURG,
        "name": "EHPAD Les Tilleuls",
        "kind": "ehpad",
        "commune_insee": "01053",
    }
    return {**data, **overrides}


def test_existing_offers_and_sites_stay_valid_without_the_new_fields() -> None:
    assert _event_of("fr.vocation.vacancy.posted.v1", samples.vacancy()).data.recruiting_contact is None
    assert _event_of("fr.vocation.vacancy.posted.v1", samples.vacancy()).data.application_url is None
    assert (
        _event_of("fr.vocation.establishment.registered.v1", _establishment()).data.recruiting_contact is None
    )


def _event_of(event_type: str, data: dict[str, Any]) -> Any:
    return parse_event(samples.cloud_event(event_type, data["id"], data))


def test_a_site_and_a_vacancy_may_name_their_recruiting_contact() -> None:
    site = _event_of("fr.vocation.establishment.registered.v1", _establishment(recruiting_contact=CONTACT))
    assert site.data.recruiting_contact.email == CONTACT["email"]
    vacancy = _event_of(
        "fr.vocation.vacancy.posted.v1", samples.vacancy(recruiting_contact={**CONTACT, "phone": None})
    )
    assert vacancy.data.recruiting_contact.phone is None


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"email": "not-an-address"}, "/data/recruiting_contact/email"),
        ({"phone": "04 74 00 00 00"}, "/data/recruiting_contact/phone"),
        ({"name": "Claire\nDubois"}, "/data/recruiting_contact/name"),
        ({"name": ""}, "/data/recruiting_contact/name"),
    ],
)
def test_a_recruiting_contact_is_one_named_reachable_professional(
    change: dict[str, str], pointer: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        _event_of("fr.vocation.vacancy.posted.v1", samples.vacancy(recruiting_contact={**CONTACT, **change}))
    assert pointer in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://emploi.example.fr/offres/42",
        "javascript:alert(1)",
        "https://",
        "https://user:pass@emploi.example.fr/offres/42",
        "https://emploi.example.fr/offres 42",
        "//emploi.example.fr/offres/42",
    ],
)
def test_the_application_url_is_https_without_credentials(url: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        _event_of("fr.vocation.vacancy.posted.v1", samples.vacancy(application_url=url))
    assert "/data/application_url" in str(caught.value)


def test_an_https_application_url_is_kept_as_given() -> None:
    url = "https://emploi.example.fr/offres/42?source=vocation"
    assert (
        _event_of("fr.vocation.vacancy.posted.v1", samples.vacancy(application_url=url)).data.application_url
        == url
    )
