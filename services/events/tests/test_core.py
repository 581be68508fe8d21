"""The gateway's pure rules: rights, validation, privacy split, erasure, ROME v3, rate limits, keys."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from vocation_events.core.ingestion import check_event, contact_event_id, plan
from vocation_events.core.partners import (
    Partner,
    UnknownEventType,
    check_allowed_types,
    hash_api_key,
    new_api_key,
)
from vocation_events.core.problems import Problem
from vocation_events.core.ratelimit import RateLimiter, TokenBucket, retry_after_seconds
from vocation_events.core.rome import convert_rome_v3
from vocation_shared.contracts import events as ev
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit

SOURCE = "urn:partner:test"
EVERYTHING = Partner("acme", SOURCE, frozenset({"*"}))
VACANCIES_ONLY = Partner("hr", SOURCE, frozenset({"fr.vocation.vacancy.posted.v1"}))
CONTACT = {"email": "jeanne.martin@example.fr", "phone": "+33612345678", "channels": ["email", "sms"]}


def vacancy_event(data: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    return samples.cloud_event(
        "fr.vocation.vacancy.posted.v1", "vac-0001", data or samples.vacancy(), **overrides
    )


def registration(contact: dict[str, Any] | None = CONTACT) -> dict[str, Any]:
    data = samples.candidate(id="cand-7", contact=contact) if contact else samples.candidate(id="cand-7")
    return samples.cloud_event("fr.vocation.candidate.registered.v1", "cand-7", data, id="evt-7")


def test_a_valid_event_becomes_its_model() -> None:
    event = check_event(vacancy_event(), EVERYTHING)
    assert isinstance(event, ev.VacancyPosted)


def test_an_event_type_the_partner_may_not_send_is_forbidden() -> None:
    problem = check_event(registration(), VACANCIES_ONLY)
    assert isinstance(problem, Problem)
    assert problem.status == 403
    assert problem.errors[0].pointer == "/type"


def test_another_source_than_the_partners_is_forbidden() -> None:
    problem = check_event(vacancy_event(source="urn:partner:someone-else"), EVERYTHING)
    assert isinstance(problem, Problem)
    assert (problem.status, problem.errors[0].pointer) == (403, "/source")


def test_an_unknown_type_is_a_schema_violation_at_type() -> None:
    problem = check_event(vacancy_event(type="fr.vocation.nothing.happened.v1"), EVERYTHING)
    assert isinstance(problem, Problem)
    assert (problem.status, problem.kind, problem.errors[0].pointer) == (422, "unknown-type", "/type")


@pytest.mark.parametrize("document", [[], "x", 3, None, {"type": 3}, {}])
def test_what_is_not_an_event_object_is_a_schema_violation(document: Any) -> None:
    problem = check_event(document, EVERYTHING)
    assert isinstance(problem, Problem)
    assert problem.status == 422


def test_schema_violations_are_located_by_json_pointer() -> None:
    data = samples.vacancy(
        rome_code="Q0000", establishment={**samples.vacancy()["establishment"], "siret": "1"}
    )
    problem = check_event(vacancy_event(data=data), EVERYTHING)
    assert isinstance(problem, Problem)
    pointers = {e.pointer for e in problem.errors}
    assert {"/data/rome_code", "/data/establishment/siret"} <= pointers
    assert problem.status == 422


def test_a_registration_with_a_contact_is_split_in_a_profile_and_a_contact() -> None:
    event = check_event(registration(), EVERYTHING)
    assert not isinstance(event, Problem)
    profile, contact = plan(event).records
    assert profile.topic == "candidates"
    assert b"jeanne.martin" not in (profile.value or b"")
    assert b"+33612345678" not in (profile.value or b"")
    assert orjson.loads(profile.value or b"")["id"] == "evt-7"
    assert contact.topic == "candidate-contacts"
    body = orjson.loads(contact.value or b"")
    assert body["type"] == "fr.vocation.contact.registered.v1"
    assert body["id"] == "evt-7.contact"
    assert body["subject"] == "cand-7"
    assert body["data"]["email"] == "jeanne.martin@example.fr"
    assert profile.key == contact.key == b"cand-7"


def test_a_registration_without_contact_is_published_as_is() -> None:
    event = check_event(registration(contact=None), EVERYTHING)
    assert not isinstance(event, Problem)
    (only,) = plan(event).records
    assert only.topic == "candidates"


def test_the_contact_event_id_is_deterministic_and_fits_the_id_limit() -> None:
    assert contact_event_id("abc") == contact_event_id("abc") == "abc.contact"
    long_id = "a" * 200
    derived = contact_event_id(long_id)
    assert len(derived) <= 200
    assert derived == contact_event_id(long_id)
    assert derived != contact_event_id("a" * 199 + "b")


def test_a_withdrawal_with_erasure_is_followed_by_tombstones_on_both_compacted_topics() -> None:
    document = samples.cloud_event(
        "fr.vocation.candidate.withdrawn.v1", "cand-7", {"candidate_id": "cand-7", "erasure_requested": True}
    )
    event = check_event(document, EVERYTHING)
    assert not isinstance(event, Problem)
    planned = plan(event)
    assert [(r.topic, r.value is None) for r in planned.records] == [
        ("candidates", False),
        ("candidates", True),
        ("candidate-contacts", True),
    ]
    assert all(r.key == b"cand-7" for r in planned.records)
    assert planned.erase_candidate == "cand-7"


def test_a_withdrawal_without_erasure_has_no_tombstone() -> None:
    document = samples.cloud_event("fr.vocation.candidate.withdrawn.v1", "cand-7", {"candidate_id": "cand-7"})
    event = check_event(document, EVERYTHING)
    assert not isinstance(event, Problem)
    assert len(plan(event).records) == 1
    assert plan(event).erase_candidate is None


def test_records_are_keyed_by_subject_with_routing_headers() -> None:
    event = check_event(vacancy_event(), EVERYTHING)
    assert not isinstance(event, Problem)
    (record,) = plan(event).records
    assert (record.topic, record.key) == ("vacancies", b"vac-0001")
    assert dict(record.headers)["ce_type"] == b"fr.vocation.vacancy.posted.v1"
    assert record.value == event.to_json_bytes()


def test_rome_v3_codes_of_an_older_partner_become_rome_4() -> None:
    old = Partner("old", SOURCE, frozenset({"*"}), rome_v3=True)
    data = samples.candidate(wanted_rome_codes=["K1302"], experience=[{"rome_code": "J1501", "months": 3}])
    document = samples.cloud_event("fr.vocation.candidate.registered.v1", "cand-0001", data)
    event = check_event(document, old)
    assert not isinstance(event, Problem), event
    assert {"K1306", "K1311"} <= set(event.data.wanted_rome_codes)


def test_an_ambiguous_rome_v3_code_of_a_vacancy_is_refused_with_the_candidates() -> None:
    converted, errors = convert_rome_v3({"rome_code": "K1302"})
    assert errors and errors[0].pointer == "/data/rome_code"
    assert "K1306" in errors[0].message
    converted, errors = convert_rome_v3({"rome_code": "K1207"})
    assert errors or converted["rome_code"] in {"K1207", "K1208"}


def test_an_unknown_rome_v3_code_is_located() -> None:
    _, errors = convert_rome_v3({"wanted_rome_codes": ["Z9999"]})
    assert errors[0].pointer == "/data/wanted_rome_codes/0"


def test_a_token_bucket_grants_its_burst_then_tells_how_long_to_wait() -> None:
    bucket = TokenBucket.full(rate=10, capacity=20, now=0)
    assert bucket.take(20, now=0) == 0
    assert bucket.take(5, now=0) == pytest.approx(0.5)
    assert bucket.take(5, now=0.5) == 0
    assert retry_after_seconds(0.01) == 1
    assert retry_after_seconds(2.2) == 3


def test_the_rate_limiter_keeps_one_bucket_per_partner() -> None:
    limiter = RateLimiter(default_rate=1, default_burst=1, min_burst=1)
    assert limiter.take("a", None, None, 1, now=0) == 0
    assert limiter.take("a", None, None, 1, now=0) > 0
    assert limiter.take("b", None, None, 1, now=0) == 0


def test_api_keys_are_random_and_stored_as_hashes() -> None:
    first, second = new_api_key(), new_api_key()
    assert first != second and len(first) > 40
    assert hash_api_key(first) != hash_api_key(second)
    assert first.encode() not in hash_api_key(first)


def test_allowed_types_must_be_known() -> None:
    assert check_allowed_types(["fr.vocation.vacancy.posted.v1"]) == {"fr.vocation.vacancy.posted.v1"}
    with pytest.raises(UnknownEventType):
        check_allowed_types(["fr.vocation.vacancy.typo.v1"])
    with pytest.raises(UnknownEventType):
        check_allowed_types([])
