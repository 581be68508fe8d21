"""Webhook rules without I/O: what may be subscribed to, the signature, the retry delays."""

from __future__ import annotations

import orjson
import pytest
from vocation_events.core.webhooks import (
    OWNER_ONLY_TYPES,
    SUBSCRIBABLE_TYPES,
    WITHHELD_FIELDS,
    SubscriptionError,
    check_subscription,
    outgoing_body,
    owned_offer,
    signature,
)
from vocation_shared.contracts.producers import is_internal_only

pytestmark = pytest.mark.unit


def test_the_signature_is_the_standard_webhooks_one() -> None:
    """The example of the Standard Webhooks specification, signed and checked the same way."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected


def test_offers_and_sites_may_be_subscribed_to_and_events_about_people_may_not() -> None:
    url, types = check_subscription(
        "https://portail.ain.fr/hooks/vocation", ["fr.vocation.vacancy.posted.v1"]
    )
    assert url == "https://portail.ain.fr/hooks/vocation" and types == {"fr.vocation.vacancy.posted.v1"}
    assert "fr.vocation.immersion-slot.offered.v1" in SUBSCRIBABLE_TYPES
    for personal in (
        "fr.vocation.candidate.registered.v1",
        "fr.vocation.match.found.v1",
        "fr.vocation.match.declined.v1",
    ):
        with pytest.raises(SubscriptionError, match="about people"):
            check_subscription("https://portail.ain.fr/hooks", [personal])
    assert not any("candidate" in t or "match" in t or "notification" in t for t in SUBSCRIBABLE_TYPES)
    assert not [t for t in SUBSCRIBABLE_TYPES if "application" in t and t not in OWNER_ONLY_TYPES]


@pytest.mark.parametrize(
    ("url", "types", "why"),
    [
        ("http://portail.ain.fr/hooks", ["fr.vocation.vacancy.posted.v1"], "must be https"),
        ("ftp://portail.ain.fr/hooks", ["fr.vocation.vacancy.posted.v1"], "not an http"),
        ("https://portail.ain.fr/hooks", [], "at least one"),
        ("https://portail.ain.fr/hooks", ["fr.vocation.vacancy.sold.v1"], "unknown event types"),
    ],
)
def test_a_bad_subscription_is_refused_with_its_reason(url: str, types: list[str], why: str) -> None:
    with pytest.raises(SubscriptionError, match=why):
        check_subscription(url, types)


def test_http_is_allowed_on_a_loopback_address_only() -> None:
    assert check_subscription("http://127.0.0.1:9000/hook", ["fr.vocation.vacancy.posted.v1"])
    assert check_subscription("http://localhost:9000/hook", ["fr.vocation.vacancy.posted.v1"])


def test_who_took_a_shift_is_not_sent_out_nor_a_tutors_address() -> None:
    assert "fr.vocation.shift.accepted.v1" not in SUBSCRIBABLE_TYPES, "it names the candidate"
    event = {
        "id": "e-1",
        "type": "fr.vocation.establishment.registered.v1",
        "data": {"id": "etab-1", "name": "EHPAD Les Tilleuls", "immersion_contact_email": "tuteur@ehpad.fr"},
    }
    sent = orjson.loads(outgoing_body(event["type"], orjson.dumps(event)))  # type: ignore[arg-type]
    assert sent["data"] == {"id": "etab-1", "name": "EHPAD Les Tilleuls"}
    vacancy = orjson.dumps({"id": "e-2", "type": "fr.vocation.vacancy.posted.v1", "data": {"id": "v"}})
    assert outgoing_body("fr.vocation.vacancy.posted.v1", vacancy) == vacancy, "sent as it is on the topic"


def test_an_immersion_slot_goes_out_without_its_tutors_name() -> None:
    slot = {
        "id": "imm-1",
        "establishment": {"id": "etab-1", "siret": "12345678901234", "name": "EHPAD Les Tilleuls"},
        "title": "Vis ma vie d'aide-soignant",
        "commune_insee": "01053",
        "tutor_name": "Claire Mercier",
    }
    for kind in ("offered", "updated", "closed"):
        event_type = f"fr.vocation.immersion-slot.{kind}.v1"
        event = {"id": f"e-{kind}", "type": event_type, "data": slot}
        sent = orjson.loads(outgoing_body(event_type, orjson.dumps(event)))
        assert "tutor_name" not in sent["data"] and "Mercier" not in orjson.dumps(sent).decode()
        assert sent["data"]["establishment"]["name"] == "EHPAD Les Tilleuls"
        assert sent["data"]["commune_insee"] == "01053"
    assert set(WITHHELD_FIELDS) == {
        "fr.vocation.establishment.registered.v1",
        "fr.vocation.establishment.updated.v1",
        "fr.vocation.immersion-slot.offered.v1",
        "fr.vocation.immersion-slot.updated.v1",
        "fr.vocation.immersion-slot.closed.v1",
        "fr.vocation.vacancy.posted.v1",
        "fr.vocation.vacancy.updated.v1",
        "fr.vocation.vacancy.closed.v1",
    }


def test_no_internal_fact_of_the_platform_can_be_subscribed_to_but_the_owners_applications() -> None:
    assert {t for t in SUBSCRIBABLE_TYPES if is_internal_only(t)} == {
        "fr.vocation.application.submitted.v1",
        "fr.vocation.application.withdrawn.v1",
    }
    assert OWNER_ONLY_TYPES <= SUBSCRIBABLE_TYPES
    assert "fr.vocation.match.declined.v1" not in SUBSCRIBABLE_TYPES  # a candidate's refusal stays in


def test_an_application_may_be_subscribed_to_and_names_the_vacancy_whose_owner_alone_receives_it() -> None:
    _, types = check_subscription("https://ats.example.fr/h", sorted(OWNER_ONLY_TYPES))
    assert types == OWNER_ONLY_TYPES
    document = {"type": "fr.vocation.application.answered.v1", "data": {"offer_id": "vac-1"}}
    assert owned_offer("fr.vocation.application.answered.v1", document) == "vac-1"
    assert owned_offer("fr.vocation.application.answered.v1", {"data": {}}) == ""  # no one owns ""
    assert owned_offer("fr.vocation.vacancy.posted.v1", {"data": {"offer_id": "vac-1"}}) is None
