"""An opt-out sticks: after STOP, only the candidate's own, newer re-consent turns SMS back on."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from vocation_local.e2e import Platform, eventually, sms_to

from tests.security.kit import (
    SOUSTONS,
    Partner,
    candidate,
    mails_about,
    new_phone,
    offers_named,
    vacancy,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EJE = ("K1202", "DEEJE")


def _sms_consent(at: datetime) -> dict[str, object]:
    """The candidate's own consent to SMS, given at `at`."""
    return {"channel": "sms", "consented": True, "origin": "candidate", "at": at.isoformat()}


def _ours(messages: list[dict[str, Any]], run: str) -> list[dict[str, Any]]:
    """The SMS about this test's offers (the session's platform holds other tests' open offers)."""
    return [sms for sms in messages if any(o.startswith(f"vac-{run}-") for o in offers_named(sms["text"]))]


def test_a_partners_new_registration_does_not_undo_a_stop_but_the_candidates_re_consent_does(
    platform: Platform, partner_a: Partner
) -> None:
    # The SMS window of the platform is the whole day (see the `platform` fixture).
    run = uuid.uuid4().hex[:8]
    email, phone = f"jade.{run}@example.org", new_phone()
    person = candidate(run, "jade", SOUSTONS, *EJE, email, phone)
    cid = person["id"]
    partner_a.post(platform, partner_a.event("fr.vocation.candidate.registered.v1", cid, person))
    first = vacancy(run, "un", SOUSTONS, *EJE, title="EJE en multi-accueil, premier poste")
    partner_a.post(platform, partner_a.event("fr.vocation.vacancy.posted.v1", first["id"], first))
    eventually(lambda: len(_ours(sms_to(platform, phone), run)) == 1, "the first SMS", platform)

    stopped_at = datetime.now(UTC)
    stopped = httpx.post(
        f"{platform.urls['notifications']}/sms/inbound", json={"from": phone, "text": "STOP"}, timeout=10
    )
    assert stopped.status_code == 200, stopped.text
    assert stopped.json() == {"status": "stopped"}
    time.sleep(2)  # the STOP's consent change is on its topic and applied

    # The partner registers the person again (its nightly sync), SMS consent "true" as in its records,
    # with a new email address: the change of address is applied, the SMS consent is not.
    new_email = f"jade.pro.{run}@example.org"
    contact = {
        "candidate_id": cid,
        "email": new_email,
        "phone": phone,
        "channels": ["email", "sms"],
        "version": 5,
    }
    partner_a.post(platform, partner_a.event("fr.vocation.contact.registered.v1", cid, contact))
    second = vacancy(run, "deux", SOUSTONS, *EJE, title="EJE en crèche familiale, second poste")
    partner_a.post(platform, partner_a.event("fr.vocation.vacancy.posted.v1", second["id"], second))
    eventually(
        lambda: bool(mails_about(platform, new_email, second["id"])),
        "the second offer by email, at the new address",
        platform,
    )
    time.sleep(3)  # an SMS for it would have come with the email
    assert len(_ours(sms_to(platform, phone), run)) == 1, (
        "an SMS after STOP: the partner's registration undid it"
    )

    # A re-consent dated before the STOP (a partner replaying its history) does not lift it.
    before_stop = stopped_at - timedelta(minutes=5)
    stale = contact | {"version": 6, "change": _sms_consent(before_stop)}
    partner_a.post(platform, partner_a.event("fr.vocation.consent.updated.v1", cid, stale))
    third = vacancy(run, "trois", SOUSTONS, *EJE, title="EJE en halte-garderie, troisième poste")
    partner_a.post(platform, partner_a.event("fr.vocation.vacancy.posted.v1", third["id"], third))
    eventually(lambda: bool(mails_about(platform, new_email, third["id"])), "the third offer", platform)
    time.sleep(3)
    assert len(_ours(sms_to(platform, phone), run)) == 1, "an SMS after a re-consent older than the STOP"

    # The candidate says so herself (on the partner's site), after her STOP: SMS again.
    fresh = contact | {"version": 7, "change": _sms_consent(datetime.now(UTC))}
    partner_a.post(platform, partner_a.event("fr.vocation.consent.updated.v1", cid, fresh))
    fourth = vacancy(run, "quatre", SOUSTONS, *EJE, title="EJE en micro-crèche, quatrième poste")
    partner_a.post(platform, partner_a.event("fr.vocation.vacancy.posted.v1", fourth["id"], fourth))
    eventually(
        lambda: len(_ours(sms_to(platform, phone), run)) == 2,
        "an SMS after the candidate's re-consent",
        platform,
    )
