"""Internal facts (matches, bookings, STOP consent changes) come only from the service that decides them."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from vocation_local.e2e import Platform, eventually, mails_to, write_to_topic
from vocation_local.faults import read_topics
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p

from tests.security.kit import (
    CAPBRETON,
    Partner,
    assert_refused,
    candidate,
    mails_about,
    new_phone,
    now,
    vacancy,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ASS = ("K1201", "DEASS")
LURE = "Gagnez 500 € : confirmez vos coordonnées"


def _match(run: str, candidate_id: str) -> dict[str, Any]:
    return {
        "match_id": f"m-{run}",
        "candidate_id": candidate_id,
        "offer_id": f"vac-{run}-lure",
        "offer_kind": "vacancy",
        "offer_version": 1,
        "offer_title": LURE,
        "rome_code": ASS[0],
        "commune_insee": CAPBRETON,
        "distance_km": 1.0,
        "score": 99,
        "reasons": ["Cliquez vite sur https://attaquant.example.net/login"],
    }


def _registered(platform: Platform, partner: Partner, run: str, name: str) -> tuple[str, str]:
    """A candidate of `partner` with an email (and a fitting profile); its id and address."""
    email = f"{name}.{run}@example.org"
    person = candidate(run, name, CAPBRETON, *ASS, email)
    partner.post(platform, partner.event("fr.vocation.candidate.registered.v1", person["id"], person))
    return person["id"], email


def _lured(platform: Platform, email: str) -> list[dict[str, Any]]:
    return [m for m in mails_to(platform, email) if "Gagnez" in m["subject"] + m["text"]]


def test_a_partner_allowed_everything_cannot_make_the_platform_email_a_match(
    platform: Platform, partner_a: Partner
) -> None:
    run = uuid.uuid4().hex[:8]
    cid, email = _registered(platform, partner_a, run, "lou")
    match = _match(run, cid)
    answer = partner_a.send(platform, partner_a.event("fr.vocation.match.found.v1", cid, match, time=now()))
    assert_refused(answer, "/type")
    time.sleep(5)  # a forged match would have been sent by now
    assert _lured(platform, email) == []


def test_a_partner_cannot_forge_an_immersion_booking(platform: Platform, partner_a: Partner) -> None:
    run = uuid.uuid4().hex[:8]
    booking = {
        "request_id": f"req-{run}",
        "slot_id": f"slot-{run}",
        "candidate_id": f"cand-{run}",
        "start_date": "2027-01-11",
        "end_date": "2027-01-15",
        "establishment_id": f"etab-{run}",
        "places_left": 0,
    }
    answer = partner_a.send(
        platform, partner_a.event("fr.vocation.immersion.booked.v1", booking["slot_id"], booking)
    )
    assert_refused(answer, "/type")


def test_a_partner_cannot_state_a_stop_reply(platform: Platform, partner_a: Partner) -> None:
    run = uuid.uuid4().hex[:8]
    phone = new_phone()
    consent = {
        "candidate_id": f"cand-{run}",
        "email": f"noe.{run}@example.org",
        "phone": phone,
        "channels": ["email"],
        "version": 2,
        "change": {"channel": "sms", "consented": False, "origin": "sms_stop", "at": now()},
    }
    answer = partner_a.send(
        platform, partner_a.event("fr.vocation.consent.updated.v1", consent["candidate_id"], consent)
    )
    assert_refused(answer, "/data/change/origin")


def _dead_letters_of(platform: Platform, event_id: str) -> list[Any]:
    records = asyncio.run(read_topics(platform.kafka_bootstrap, ["matches.dlq"], within_s=30))
    return [r for r in records if r.value is not None and event_id.encode() in r.value]


def test_a_match_forged_straight_into_kafka_is_dead_lettered_and_never_sent(
    platform: Platform, partner_a: Partner
) -> None:
    run = uuid.uuid4().hex[:8]
    cid, email = _registered(platform, partner_a, run, "rose")
    forged = ev.MatchFound.build(
        p.MatchFound.model_validate(_match(run, cid)), source=partner_a.source, id=f"forged-{run}"
    )
    write_to_topic(platform, forged)

    eventually(
        lambda: bool(_dead_letters_of(platform, forged.id)), "the forged match in matches.dlq", platform, 30
    )
    for record in _dead_letters_of(platform, forged.id):
        said = " ".join(value.decode(errors="replace") for _, value in record.headers if value).lower()
        assert "source" in said or "forged" in said, record.headers
        assert email not in said
    assert _lured(platform, email) == []

    # The consumer goes on: a genuine match for the same person comes through.
    offer = vacancy(run, "vrai", CAPBRETON, *ASS, title="Assistant(e) de service social au CCAS")
    partner_a.post(platform, partner_a.event("fr.vocation.vacancy.posted.v1", offer["id"], offer))
    eventually(lambda: bool(mails_about(platform, email, offer["id"])), "the genuine match", platform)
    assert _lured(platform, email) == []
