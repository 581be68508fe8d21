"""Partner B against partner A's entities: the first publisher of an id owns it, B gets 403 at `/subject`."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from vocation_local.e2e import Platform, eventually

from tests.security.kit import (
    BISCARROSSE,
    Partner,
    assert_refused,
    candidate,
    mails_about,
    vacancy,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TISF = ("K1305", "DETISF")


def _in_search(platform: Platform, offer_id: str) -> bool:
    """Whether the catalogue's public search lists this offer (pages of offers of its place and métier)."""
    params: dict[str, Any] = {"rome": TISF[0], "commune": BISCARROSSE, "limit": 100}
    for _ in range(20):
        page = httpx.get(f"{platform.urls['catalogue']}/v1/offers", params=params, timeout=10)
        assert page.status_code == 200, page.text
        body = page.json()
        if any(item["id"] == offer_id for item in body["items"]):
            return True
        if not body.get("next_cursor"):
            return False
        params["cursor"] = body["next_cursor"]
    return False


def test_another_partner_can_neither_close_nor_rewrite_a_vacancy(
    platform: Platform, partner_a: Partner, partner_b: Partner
) -> None:
    run = uuid.uuid4().hex[:8]
    offer = vacancy(run, "a", BISCARROSSE, *TISF, title="TISF auprès des familles")
    partner_a.post(platform, partner_a.event("fr.vocation.vacancy.posted.v1", offer["id"], offer))
    eventually(lambda: _in_search(platform, offer["id"]), "A's offer in the search", platform)

    # Ids and versions are public in the search: B takes them from there.
    closed = offer | {"status": "closed", "version": offer["version"] + 1}
    assert_refused(
        partner_b.send(platform, partner_b.event("fr.vocation.vacancy.closed.v1", offer["id"], closed)),
        "/subject",
    )
    rewritten = offer | {"title": "Poste supprimé, appelez le 08 99 …", "version": offer["version"] + 1}
    assert_refused(
        partner_b.send(platform, partner_b.event("fr.vocation.vacancy.updated.v1", offer["id"], rewritten)),
        "/subject",
    )

    time.sleep(3)  # what B's events would have done has been done by now
    assert _in_search(platform, offer["id"]), "B's close took A's offer out of the search"
    shown = httpx.get(f"{platform.urls['catalogue']}/v1/offers/{offer['id']}", timeout=10).json()
    assert shown["title"] == offer["title"]
    assert shown["status"] == "open"

    # The owner still can.
    partner_a.post(platform, partner_a.event("fr.vocation.vacancy.closed.v1", offer["id"], closed))
    eventually(lambda: not _in_search(platform, offer["id"]), "A's close", platform)


def test_another_partner_cannot_redirect_an_establishments_contact(
    platform: Platform, partner_a: Partner, partner_b: Partner
) -> None:
    run = uuid.uuid4().hex[:8]
    site: dict[str, Any] = {
        "id": f"etab-{run}",
        "siret": "35600000000051",
        "name": "EHPAD Les Tilleuls",
        "kind": "ehpad",
        "commune_insee": BISCARROSSE,
        "immersion_contact_email": f"tuteur.{run}@ehpad-tilleuls.example.org",
    }
    partner_a.post(platform, partner_a.event("fr.vocation.establishment.registered.v1", site["id"], site))
    redirected = site | {"immersion_contact_email": f"collecte.{run}@attaquant.example.net"}
    assert_refused(
        partner_b.send(
            platform, partner_b.event("fr.vocation.establishment.updated.v1", site["id"], redirected)
        ),
        "/subject",
    )


def test_another_partner_cannot_erase_a_candidate_who_still_gets_offers(
    platform: Platform, partner_a: Partner, partner_b: Partner
) -> None:
    run = uuid.uuid4().hex[:8]
    email = f"ines.{run}@example.org"
    person = candidate(run, "ines", BISCARROSSE, *TISF, email)
    partner_a.post(platform, partner_a.event("fr.vocation.candidate.registered.v1", person["id"], person))
    time.sleep(1)  # the registration is A's before B tries

    erasure = {"candidate_id": person["id"], "erasure_requested": True, "reason": "demande d'effacement"}
    assert_refused(
        partner_b.send(
            platform, partner_b.event("fr.vocation.candidate.withdrawn.v1", person["id"], erasure)
        ),
        "/subject",
    )

    offer = vacancy(run, "next", BISCARROSSE, *TISF, title="TISF en protection de l'enfance")
    partner_a.post(platform, partner_a.event("fr.vocation.vacancy.posted.v1", offer["id"], offer))
    eventually(
        lambda: bool(mails_about(platform, email, offer["id"])), "A's candidate told the next offer", platform
    )


def test_another_partner_cannot_overwrite_a_candidates_contact(
    platform: Platform, partner_a: Partner, partner_b: Partner
) -> None:
    run = uuid.uuid4().hex[:8]
    email = f"theo.{run}@example.org"
    person = candidate(run, "theo", BISCARROSSE, *TISF, email)
    partner_a.post(platform, partner_a.event("fr.vocation.candidate.registered.v1", person["id"], person))
    time.sleep(1)

    hijacked = {
        "candidate_id": person["id"],
        "email": f"boite.{run}@attaquant.example.net",
        "channels": ["email"],
        "version": 7,
    }
    assert_refused(
        partner_b.send(
            platform, partner_b.event("fr.vocation.contact.registered.v1", person["id"], hijacked)
        ),
        "/subject",
    )
