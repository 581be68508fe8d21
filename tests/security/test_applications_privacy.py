"""What issue 14's contracts add that names a person must be withheld, sealed and never served.

The contracts carry an optional `recruiting_contact` (a recruiter's name, email, phone) on
establishments and vacancies, and an application's `message` (a candidate's words): each service
treats them like the tutor's address.
"""

from __future__ import annotations

import json

import pytest
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit

CONTACT = {"name": "Claire Dubois", "email": "recrutement@ehpad-tilleuls.example.fr", "phone": "+33474000000"}


def test_a_vacancy_goes_out_by_webhook_without_its_recruiting_contact() -> None:
    from vocation_events.core.webhooks import outgoing_body

    event = samples.cloud_event(
        "fr.vocation.vacancy.posted.v1", "vac-0001", samples.vacancy(recruiting_contact=CONTACT)
    )
    body = outgoing_body("fr.vocation.vacancy.posted.v1", json.dumps(event).encode())
    assert CONTACT["email"].encode() not in body
    assert CONTACT["name"].encode() not in body


def test_the_archive_seals_recruiting_contacts_and_application_messages() -> None:
    from vocation_events.core.archive_sealing import SEALED_FIELDS

    for event_type in (
        "fr.vocation.establishment.registered.v1",
        "fr.vocation.establishment.updated.v1",
        "fr.vocation.vacancy.posted.v1",
        "fr.vocation.vacancy.updated.v1",
        "fr.vocation.vacancy.closed.v1",
    ):
        for part in ("name", "email", "phone"):
            assert ("recruiting_contact", part) in SEALED_FIELDS.get(event_type, ()), event_type
    assert ("message",) in SEALED_FIELDS.get("fr.vocation.application.submitted.v1", ())


def test_the_catalogue_never_serves_a_recruiting_contact() -> None:
    from vocation_catalogue.adapters.postgres.search import PRIVATE_ESTABLISHMENT_FIELDS, PRIVATE_ITEM_FIELDS

    assert "recruiting_contact" in PRIVATE_ESTABLISHMENT_FIELDS  # /v1/offers' establishment
    assert "recruiting_contact" in PRIVATE_ITEM_FIELDS  # a vacancy's own, on /v1/offers/{id}
