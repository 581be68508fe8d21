"""From match to hire, as people live it: every service a process, the links of the real emails clicked.

One journey per test is costly (registrations, matching, emails): the bad links are tried on the
first journey's own candidate and offer, before she says yes."""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from vocation_local.e2e import Platform
from vocation_local.e2e import eventually as _eventually
from vocation_local.e2e import mails_to as _mails_to
from vocation_local.faults import read_topics
from vocation_local.partners import create_partner
from vocation_shared.links import DEVELOPMENT_LINK_KEY, Action, LinkSigner
from vocation_shared.testing import samples

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SOURCE = "urn:partner:e2e-applications"
LINK = re.compile(r"https?://127\.0\.0\.1:\d+/l/[A-Za-z0-9_-]+")
SIGNER = LinkSigner([DEVELOPMENT_LINK_KEY])
"""The platform under test runs on the development link key: the test reads which link is which."""


@pytest.fixture(scope="module")
def api_key(platform: Platform) -> str:
    """A partner allowed every event type, created with the operator CLI."""
    return create_partner(
        platform.environments["events"], f"e2e-app-{uuid.uuid4().hex[:6]}", SOURCE, share_source=True
    ).key


def _post(platform: Platform, key: str, event_type: str, subject: str, data: dict[str, Any]) -> None:
    event = samples.cloud_event(event_type, subject, data, id=f"e2e-{uuid.uuid4().hex}", source=SOURCE)
    answer = httpx.post(
        f"{platform.urls['events']}/v1/events",
        content=json.dumps(event),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents+json"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text


def _register(
    platform: Platform, key: str, run: str, name: str, commune: str, **profile: Any
) -> tuple[str, str]:
    slug = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    email = f"{slug}.{run}@example.org"
    contact = {"first_name": name, "email": email, "channels": ["email"]}
    person = samples.candidate(
        id=f"cand-{run}-{slug}", home_commune_insee=commune, contact=contact, **profile
    )
    _post(platform, key, "fr.vocation.candidate.registered.v1", person["id"], person)
    return person["id"], email


def _establishment(run: str) -> dict[str, Any]:
    """A site of this test's own (another test's partner owns the samples' site)."""
    site: dict[str, Any] = samples.vacancy()["establishment"]
    return site | {"id": f"etab-{run}"}


def _links(mail: dict[str, Any]) -> dict[Action, str]:
    """The signed links of an email, by what they do (a link the test cannot read fails it)."""
    found: dict[Action, str] = {}
    for url in LINK.findall(mail["text"]):
        checked = SIGNER.verify(url.rsplit("/", 1)[1])
        assert checked.valid and checked.link is not None, f"a link of the email does not verify: {url}"
        found[checked.link.action] = url
    return found


def _mail_about(platform: Platform, address: str, needle: str, what: str) -> dict[str, Any]:
    def matching() -> list[dict[str, Any]]:
        return [m for m in _mails_to(platform, address) if needle in m["subject"] + m["text"]]

    _eventually(lambda: bool(matching()), what, platform, timeout=90)
    return matching()[-1]


def _confirm(url: str, **form: str) -> httpx.Response:
    """Open a link (a GET changes nothing), then confirm its page (the POST acts)."""
    page = httpx.get(url, timeout=30)
    assert page.status_code == 200, page.text
    assert "<form" in page.text
    return httpx.post(url, data=form, timeout=30)


def _facts(platform: Platform, topic: str, event_type: str, **fields: str) -> list[dict[str, Any]]:
    records = asyncio.run(read_topics(platform.kafka_bootstrap, [topic]))
    found = []
    for record in records:
        if record.value is None:
            continue
        event = json.loads(record.value)
        if event["type"] == event_type and all(event["data"].get(k) == v for k, v in fields.items()):
            found.append(event)
    return found


def _hires_counted(platform: Platform) -> int:
    """Hires through the platform in the Ain, as the observatory totals them (totals are not hidden)."""
    answer = httpx.get(
        f"{platform.urls['catalogue']}/v1/observatory", params={"departement": "01"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["totals"]["hires"])


def _forged_and_expired_links_act_on_nothing(
    platform: Platform, candidate: str, email: str, offer: str
) -> None:
    """A forged link gets the 403 page, a genuine link of an unknown person 404, an expired one the
    410 page whose form (posted to notifications) brings a fresh link by email; none acts."""
    pages = f"{platform.urls['catalogue']}/l"
    forged = SIGNER.sign(Action.INTERESTED, candidate, offer)[:-2] + "AA"
    refused = httpx.get(f"{pages}/{forged}", timeout=30)
    assert refused.status_code == 403 and 'lang="fr"' in refused.text
    assert httpx.post(f"{pages}/{forged}", data={"message": "x"}, timeout=30).status_code == 403
    nobody = SIGNER.sign(Action.INTERESTED, f"{candidate}-nobody", offer)
    assert httpx.post(f"{pages}/{nobody}", data={}, timeout=30).status_code == 404

    old = SIGNER.sign(Action.INTERESTED, candidate, offer, now=datetime.now(UTC) - timedelta(days=31))
    expired = httpx.get(f"{pages}/{old}", timeout=30)
    assert expired.status_code == 410, expired.text
    renewal = re.search(r'<form[^>]*action="([^"]+/liens/nouveau)"', expired.text)
    assert renewal is not None, expired.text
    assert httpx.post(f"{pages}/{old}", data={}, timeout=30).status_code == 410, (
        "an expired link acts on nothing"
    )
    assert httpx.post(renewal.group(1), data={"token": old}, timeout=30).status_code == 200

    fresh = _mail_about(platform, email, "nouveau lien", "the fresh link")
    assert Action.INTERESTED in _links(fresh)
    assert (
        _facts(platform, "applications", "fr.vocation.application.submitted.v1", candidate_id=candidate) == []
    )


def test_yes_then_exchange_then_hired_fills_the_post(platform: Platform, api_key: str) -> None:
    run = uuid.uuid4().hex[:8]
    recruiter = f"recrutement.{run}@example.org"
    lea, lea_email = _register(platform, api_key, run, "Léa", samples.AMBERIEU_EN_BUGEY)
    hugo, hugo_email = _register(platform, api_key, run, "Hugo", samples.AMBERIEU_EN_BUGEY)
    vacancy = samples.vacancy(
        id=f"vac-{run}",
        establishment=_establishment(run),
        title=f"Aide-soignant(e) de nuit {run}",
        posts=1,
        recruiting_contact={"name": "Claire Recruteuse", "email": recruiter, "phone": "+33639980101"},
    )
    _post(platform, api_key, "fr.vocation.vacancy.posted.v1", vacancy["id"], vacancy)

    match_mail = _mail_about(platform, lea_email, run, "Léa's match email")
    links = _links(match_mail)
    assert {Action.VIEW_OFFER, Action.INTERESTED, Action.NOT_FOR_ME} <= set(links), match_mail["text"]
    _mail_about(platform, hugo_email, run, "Hugo's match email")

    _forged_and_expired_links_act_on_nothing(platform, lea, lea_email, vacancy["id"])
    offer_page = httpx.get(links[Action.VIEW_OFFER], timeout=30)
    assert offer_page.status_code == 200 and vacancy["title"] in offer_page.text

    form = {"message": "Je travaille de nuit depuis trois ans.", "partager_email": "oui"}
    first = _confirm(links[Action.INTERESTED], **form)
    assert first.status_code == 200, first.text
    again = httpx.post(links[Action.INTERESTED], data=form, timeout=30)  # a second tab
    assert again.status_code == 200, again.text

    employer_mail = _mail_about(platform, recruiter, "Léa", "the recruiter's email about Léa")
    assert "Je travaille de nuit depuis trois ans." in employer_mail["text"]
    assert lea_email in employer_mail["text"], "Léa chose to share her email"
    answers = _links(employer_mail)
    assert {Action.PROPOSE_EXCHANGE, Action.DECLINE, Action.HIRED} <= set(answers)

    exchange = _confirm(answers[Action.PROPOSE_EXCHANGE])
    assert exchange.status_code == 200, exchange.text
    told = _mail_about(
        platform, lea_email, recruiter, "Léa told of the exchange, with the recruiter's contact"
    )
    assert "Claire Recruteuse" in told["text"]

    hires_before = _hires_counted(platform)
    hired = _confirm(answers[Action.HIRED])
    assert hired.status_code == 200, hired.text

    def filled() -> bool:
        answer = httpx.get(f"{platform.urls['catalogue']}/v1/offers/{vacancy['id']}", timeout=10)
        return answer.status_code == 404 or answer.json().get("status") == "filled"

    _eventually(filled, "the vacancy leaving the search once its one post is filled", platform)
    _eventually(
        lambda: bool(
            _facts(
                platform,
                "matches",
                "fr.vocation.match.withdrawn.v1",
                candidate_id=hugo,
                offer_id=vacancy["id"],
            )
        ),
        "Hugo's match withdrawn",
        platform,
    )
    _eventually(
        lambda: _hires_counted(platform) == hires_before + 1, "the observatory counting one hire", platform
    )
    submitted = _facts(platform, "applications", "fr.vocation.application.submitted.v1", candidate_id=lea)
    assert len(submitted) == 1, "two tabs make one application"
    assert len([m for m in _mails_to(platform, recruiter) if "Léa" in m["subject"] + m["text"]]) >= 1
    first_employer_mails = [
        m for m in _mails_to(platform, recruiter) if m["subject"] == employer_mail["subject"]
    ]
    assert len(first_employer_mails) == 1, "the employer's email is sent once"


def test_not_for_me_too_far_keeps_farther_offers_away_and_nearer_ones_coming(
    platform: Platform, api_key: str
) -> None:
    run = uuid.uuid4().hex[:8]
    ines, ines_email = _register(
        platform, api_key, run, "Inès", samples.AMBERIEU_EN_BUGEY, mobility_radius_km=60
    )
    # Bourg-en-Bresse is about 29 km from Ambérieu-en-Bugey.
    site = _establishment(run)
    first = samples.vacancy(id=f"vac-{run}-bourg", establishment=site, title=f"Aide-soignant(e) Bourg {run}")
    _post(platform, api_key, "fr.vocation.vacancy.posted.v1", first["id"], first)
    links = _links(_mail_about(platform, ines_email, first["title"], "Inès's match email"))
    declined = _confirm(links[Action.NOT_FOR_ME], raison="too_far")
    assert declined.status_code == 200, declined.text
    _eventually(
        lambda: bool(_facts(platform, "applications", "fr.vocation.match.declined.v1", candidate_id=ines)),
        "the refusal on the applications topic",
        platform,
    )

    farther = samples.vacancy(
        id=f"vac-{run}-far",
        establishment=site,
        title=f"Aide-soignant(e) Oyonnax {run}",
        commune_insee="01283",
    )  # Oyonnax, about 40 km away: inside the stated radius, beyond the learned one
    nearer = samples.vacancy(
        id=f"vac-{run}-near",
        establishment=site,
        title=f"Aide-soignant(e) Ambérieu {run}",
        commune_insee=samples.AMBERIEU_EN_BUGEY,
    )
    for offer in (farther, nearer):
        _post(platform, api_key, "fr.vocation.vacancy.posted.v1", offer["id"], offer)
    _mail_about(platform, ines_email, nearer["title"], "the nearer offer proposed")
    proposed = _facts(
        platform, "matches", "fr.vocation.match.found.v1", candidate_id=ines, offer_id=farther["id"]
    )
    assert proposed == [], "the farther offer is not proposed after « trop loin »"
