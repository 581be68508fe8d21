"""Issue 14 against real Kafka, PostgreSQL and an SMTP server on loopback: the employer's email (what
the candidate shared, nothing else), the candidate told, the one reminder, replays, renewed links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import unescape

import httpx
import pytest
from vocation_notifications.adapters.http_api import RENEWAL_PAGE
from vocation_notifications.testing import (
    RECRUITER,
    Harness,
    answered,
    eventually,
    personal_links,
    phone_of,
    submitted,
    vacancy,
)
from vocation_shared.links import DEVELOPMENT_LINK_KEY, Action, LinkSigner

pytestmark = pytest.mark.integration

REMINDER_DUE = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
"""5 working days after the sample submission (Thursday 3 December 2026, 10:00 in Paris)."""


async def _rows(h: Harness, offer: str, count: int) -> None:
    """Wait until the recruiter of `offer` has `count` outbox rows."""

    async def planned() -> bool:
        found = await h.fetchval("SELECT count(*) FROM outbox WHERE recipient_id = $1", offer)
        return int(found) >= count

    await eventually(planned, what=f"{count} rows for the recruiter of {offer}")


async def _vacancy_known(h: Harness, offer: str) -> None:
    await h.publish(vacancy(offer))

    async def stored() -> bool:
        return bool(await h.fetchval("SELECT count(*) FROM vacancies WHERE id = $1", offer))

    await eventually(stored, what=f"vacancy {offer} stored")


async def test_the_employer_reads_what_the_candidate_shared_and_nothing_more(harness: Harness) -> None:
    h = harness
    sharing, private, offer = h.id("sharing"), h.id("private"), h.id("vac")
    await h.register_contact(sharing, first_name="Camille")
    await h.register_contact(private, first_name="Sacha")
    await _vacancy_known(h, offer)
    await h.publish(
        submitted(sharing, offer, shares={"email": True, "phone": False}),
        submitted(private, offer, shares={"email": False, "phone": False}, message=None),
    )
    await _rows(h, offer, 4)  # two emails, two reminders
    await h.drain()
    mails = h.sink.to(RECRUITER["email"])
    assert len(mails) == 2
    by_name = {("Camille" if "Camille" in m.part("plain") else "Sacha"): m for m in mails}
    shared, kept = by_name["Camille"], by_name["Sacha"]
    assert shared.message["Subject"] == "Nouvelle candidature : Aide-soignant(e) de nuit"
    for body in (shared.part("plain"), unescape(shared.part("html"))):
        assert f"{sharing}@exemple.fr" in body
        assert phone_of(sharing) not in body
        assert "Je travaille de nuit depuis trois ans" in body
        assert "Diplôme d'État d'aide-soignant" in body and "12 km" in body
        links = [(x.action, x.candidate_id, x.target_id) for x in personal_links(body)]
        assert links == [
            (Action.PROPOSE_EXCHANGE, sharing, offer),
            (Action.DECLINE, sharing, offer),
            (Action.HIRED, sharing, offer),
        ]
    assert shared.message["List-Unsubscribe"] is None
    for body in (kept.part("plain"), unescape(kept.part("html"))):
        assert f"{private}@exemple.fr" not in body and phone_of(private) not in body
        assert "n'a pas souhaité transmettre ses coordonnées" in body


async def test_the_candidate_is_told_once_the_reminder_goes_once_and_replays_send_nothing(
    harness: Harness,
) -> None:
    h = harness
    cand, offer = h.id("cand"), h.id("vac")
    await h.register_contact(cand, channels=["email"])
    await _vacancy_known(h, offer)
    application = submitted(cand, offer)
    await h.publish(application)
    await _rows(h, offer, 2)
    await h.drain()
    assert len(h.sink.to(RECRUITER["email"])) == 1

    # The reminder, at its time, once; the same fact again (redelivered, re-published) sends nothing.
    h.clock.set(REMINDER_DUE)
    await h.publish(application, submitted(cand, offer))
    await eventually(lambda: _processed(h, "applications", 2), what="the replays read")
    await h.drain()
    h.clock.set(REMINDER_DUE + timedelta(days=2))
    await h.drain()
    subjects = [m.message["Subject"] for m in h.sink.to(RECRUITER["email"])]
    assert subjects == [
        "Nouvelle candidature : Aide-soignant(e) de nuit",
        "Rappel : une candidature attend votre réponse (Aide-soignant(e) de nuit)",
    ]

    # « Proposer un échange »: the candidate receives the recruiting contact, once.
    exchange = answered(cand, offer, "interview_proposed")
    await h.publish(exchange, exchange, answered(cand, offer, "interview_proposed"))
    await h.wait_rows(cand, 1, purpose="application_answered")
    await eventually(lambda: _processed(h, "applications", 3), what="the answers read")
    await h.drain()
    [told] = h.sink.to(f"{cand}@exemple.fr")
    assert told.message["Subject"] == "L'établissement vous propose un échange : Aide-soignant(e) de nuit"
    text = told.part("plain")
    assert RECRUITER["name"] in text and RECRUITER["email"] in text and RECRUITER["phone"] in text
    assert [x.action for x in personal_links(text)] == [Action.VIEW_OFFER]
    assert len(h.sink.to(RECRUITER["email"])) == 2


async def _processed(h: Harness, topic: str, count: int) -> bool:
    found = await h.fetchval("SELECT count(*) FROM processed_events WHERE consumer LIKE $1", f"%{topic}")
    return int(found) >= count


async def test_an_answer_before_the_reminder_drops_it(harness: Harness) -> None:
    h = harness
    cand, offer = h.id("cand"), h.id("vac")
    await h.register_contact(cand, channels=["email"])
    await _vacancy_known(h, offer)
    await h.publish(submitted(cand, offer), answered(cand, offer, "declined", reason="position_filled"))
    await h.wait_rows(cand, 1, purpose="application_answered")
    h.clock.set(REMINDER_DUE + timedelta(hours=1))
    await h.drain()
    assert [m.message["Subject"] for m in h.sink.to(RECRUITER["email"])] == [
        "Nouvelle candidature : Aide-soignant(e) de nuit"
    ]
    [told] = h.sink.to(f"{cand}@exemple.fr")
    assert "le poste a déjà été pourvu" in told.part("plain")


async def test_an_expired_link_is_renewed_once_a_day_and_the_page_tells_nothing(harness: Harness) -> None:
    h = harness
    cand, offer = h.id("cand"), h.id("vac")
    await h.register_contact(cand, channels=["email"])
    await _vacancy_known(h, offer)
    signer = LinkSigner([DEVELOPMENT_LINK_KEY])
    long_ago = datetime.now(UTC) - timedelta(days=40)
    expired = signer.sign(Action.HIRED, cand, offer, now=long_ago)
    valid = signer.sign(Action.HIRED, cand, offer)
    forged = LinkSigner(["another key entirely, long enough"]).sign(Action.HIRED, cand, offer, now=long_ago)
    transport = httpx.ASGITransport(app=h.service.http)
    async with httpx.AsyncClient(transport=transport, base_url="http://notifications") as client:
        pages = [
            await client.post("/liens/nouveau", data={"token": token})
            for token in (expired, expired, valid, forged, "")
        ]
    assert {(page.status_code, page.headers["content-type"]) for page in pages} == {
        (200, "text/html; charset=utf-8")
    }
    assert len({page.text for page in pages}) == 1 and RENEWAL_PAGE in pages[0].text
    assert "<main>" in pages[0].text and 'lang="fr"' in pages[0].text
    await _rows(h, offer, 1)
    await h.drain()
    [renewed] = h.sink.to(RECRUITER["email"])
    assert renewed.message["Subject"] == "Votre nouveau lien Vocation : Aide-soignant(e) de nuit"
    [fresh] = personal_links(renewed.part("plain"))
    assert (fresh.action, fresh.candidate_id, fresh.target_id) == (Action.HIRED, cand, offer)
    assert fresh.expires_at > datetime.now(UTC) + timedelta(days=29)
    assert h.sink.to(f"{cand}@exemple.fr") == []
    assert await h.rows(cand) == []
