"""Who may publish what: partner facts, internal facts, and forged sources."""

from __future__ import annotations

import pytest
from vocation_shared.contracts.events import EVENT_TYPES
from vocation_shared.contracts.producers import (
    Service,
    forged_reason,
    is_partner_type,
    partner_forbidden_reason,
    partner_types,
)

pytestmark = pytest.mark.unit

MATCH_FOUND = "fr.vocation.match.found.v1"
CONSENT = "fr.vocation.consent.updated.v1"
SLOT_UPDATED = "fr.vocation.immersion-slot.updated.v1"
ANSWERED = "fr.vocation.application.answered.v1"


def _consent(origin: str) -> dict[str, object]:
    return {"change": {"origin": origin}}


def test_platform_decisions_are_not_partner_types() -> None:
    internal = set(EVENT_TYPES) - partner_types(EVENT_TYPES)
    assert internal == {
        MATCH_FOUND,
        "fr.vocation.match.withdrawn.v1",
        "fr.vocation.immersion.booked.v1",
        "fr.vocation.immersion.refused.v1",
        "fr.vocation.notification.sent.v1",
        "fr.vocation.notification.failed.v1",
        "fr.vocation.notification.suppressed.v1",
        "fr.vocation.application.submitted.v1",
        "fr.vocation.application.withdrawn.v1",
        "fr.vocation.match.declined.v1",
    }
    assert is_partner_type("fr.vocation.vacancy.posted.v1")


def test_a_match_is_accepted_only_from_matching() -> None:
    assert forged_reason(MATCH_FOUND, Service.MATCHING.source) is None
    assert forged_reason(MATCH_FOUND, "urn:partner:a") is not None
    assert forged_reason(MATCH_FOUND, Service.CATALOGUE.source) is not None


def test_a_partner_fact_may_not_claim_a_service_source() -> None:
    assert forged_reason("fr.vocation.vacancy.posted.v1", "urn:partner:a") is None
    assert forged_reason("fr.vocation.vacancy.posted.v1", Service.MATCHING.source) is not None


def test_shared_types_take_the_partner_or_their_one_service() -> None:
    assert forged_reason(SLOT_UPDATED, "urn:partner:a") is None
    assert forged_reason(SLOT_UPDATED, Service.CATALOGUE.source) is None
    assert forged_reason(SLOT_UPDATED, Service.MATCHING.source) is not None


def test_an_answer_comes_from_the_catalogue_or_a_partner_never_another_service() -> None:
    assert is_partner_type(ANSWERED)
    assert ANSWERED in partner_types(EVENT_TYPES)  # what `--allow '*'` grants
    assert forged_reason(ANSWERED, Service.CATALOGUE.source) is None
    assert forged_reason(ANSWERED, "urn:partner:a") is None
    assert forged_reason(ANSWERED, Service.MATCHING.source) is not None
    assert partner_forbidden_reason(ANSWERED, {}) is None


def test_only_notifications_states_a_stop_or_an_unsubscribe() -> None:
    assert forged_reason(CONSENT, Service.NOTIFICATIONS.source, _consent("sms_stop")) is None
    assert forged_reason(CONSENT, "urn:partner:a", _consent("sms_stop")) is not None
    assert forged_reason(CONSENT, "urn:partner:a", _consent("candidate")) is None
    assert forged_reason(CONSENT, Service.NOTIFICATIONS.source, _consent("partner")) is not None
    assert partner_forbidden_reason(CONSENT, _consent("email_unsubscribe")) is not None
    assert partner_forbidden_reason(MATCH_FOUND, {}) is not None
