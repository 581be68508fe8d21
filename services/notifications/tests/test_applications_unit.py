"""Issue 14 on the fakes: the match's signed links, the employer's email and its one reminder, the
candidate told of each answer and closing, replays, erasure and renewed links."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from vocation_notifications.adapters.templates import Renderer
from vocation_notifications.core.applications import reminder_at
from vocation_notifications.core.model import RecipientKind
from vocation_notifications.core.policy import Policy
from vocation_notifications.core.sms import SmsEncoding, size_of
from vocation_notifications.ports import EmailMessage, SmsMessage
from vocation_notifications.testing import (
    RECRUITER,
    answered,
    application_withdrawn,
    match,
    personal_links,
    phone_of,
    submitted,
    vacancy,
)
from vocation_notifications.testing.world import NOON, RENDERING, World
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.vocabulary import Channel, NotificationPurpose
from vocation_shared.links import DEVELOPMENT_LINK_KEY, Action, Link, LinkSigner
from vocation_shared.pseudonyms import DEVELOPMENT_PSEUDONYM_KEY, Pseudonymizer
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit

SIGNER = LinkSigner([DEVELOPMENT_LINK_KEY])
LINK = re.compile(r"https://vocation\.test/l/([A-Za-z0-9_-]+)")
OFFER = "vac-1"
WHO = "erased-person"
"""An erased candidate's id: no hex pseudonym or uuid can contain it by chance."""
REMINDER_DUE = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
"""5 working days after Thursday 3 December 2026, 10:00 in Paris: Thursday 10 December, 10:00."""


def _links(text: str) -> list[Link]:
    """The personal links of a message, on the test site."""
    assert all(url.startswith("https://vocation.test/l/") for url in re.findall(r"https?://\S+/l/", text))
    return personal_links(text)


def _emails(w: World) -> list[EmailMessage]:
    return [m for m in w.email.sent.values() if isinstance(m, EmailMessage)]


async def _applied(w: World, cid: str = "c1", **fields: object) -> None:
    """The vacancy is known, the candidate known by first name, and they applied."""
    w.know(cid, first_name="Camille")
    await w.handlers.on_vacancies([vacancy(OFFER)])
    await w.handlers.on_applications([submitted(cid, OFFER, **fields)])


async def test_the_match_email_carries_the_three_signed_links_and_not_the_old_one() -> None:
    w = World()
    w.know("c1", Channel.EMAIL)
    await w.matched("c1", "o1")
    await w.worker.run_once()
    [email] = _emails(w)
    assert [(x.action, x.candidate_id, x.target_id) for x in _links(email.text)] == [
        (Action.VIEW_OFFER, "c1", "o1"),
        (Action.INTERESTED, "c1", "o1"),
        (Action.NOT_FOR_ME, "c1", "o1"),
    ]
    assert [x.action for x in _links(email.html)] == [Action.VIEW_OFFER, Action.INTERESTED, Action.NOT_FOR_ME]
    assert "Voir l'offre et postuler" not in email.text
    assert "Je suis intéressé(e)" in email.html and "Pas pour moi" in email.html


async def test_see_the_offer_goes_to_the_partner_page_when_the_vacancy_has_one() -> None:
    w = World()
    w.know("c1", Channel.EMAIL)
    await w.handlers.on_vacancies([vacancy("o1", application_url="https://partenaire.example.fr/offre/1")])
    await w.matched("c1", "o1")
    await w.worker.run_once()
    [email] = _emails(w)
    assert "Voir l'offre : https://partenaire.example.fr/offre/1" in email.text
    assert [x.action for x in _links(email.text)] == [Action.INTERESTED, Action.NOT_FOR_ME]


async def test_the_match_sms_carries_one_personal_link_in_one_gsm7_segment() -> None:
    w = World()
    cid, offer = str(uuid.uuid4()), str(uuid.uuid4())  # the longest tokens: 68 characters
    w.know(cid, Channel.SMS)
    await w.handlers.on_matches([match(cid, offer).model_copy(update={"time": NOON})])
    await w.worker.run_once()
    [sms] = [m for m in w.sms.sent.values() if isinstance(m, SmsMessage)]
    assert [(x.action, x.candidate_id, x.target_id) for x in _links(sms.text)] == [
        (Action.VIEW_OFFER, cid, offer)
    ]
    assert (size_of(sms.text).encoding, size_of(sms.text).segments) == (SmsEncoding.GSM7, 1)
    assert sms.text.endswith("STOP au 38100")


def test_the_digest_links_each_offer_personally_and_its_sms_the_best_one() -> None:
    renderer = Renderer(**RENDERING)
    items = [match("c1", offer).data.model_dump(mode="json") for offer in ("o1", "o2")]
    payload = {"count": 2, "items": items, "date": "2026-11-22"}
    email = renderer.email(
        NotificationPurpose.DIGEST, payload, recipient_id="c1", recipient_kind=RecipientKind.CANDIDATE
    )
    assert [(x.action, x.target_id) for x in _links(email.text)] == [
        (Action.VIEW_OFFER, "o1"),
        (Action.VIEW_OFFER, "o2"),
    ]
    text, _ = renderer.sms(NotificationPurpose.DIGEST, payload, recipient_id="c1")
    assert [(x.action, x.candidate_id, x.target_id) for x in _links(text)] == [
        (Action.VIEW_OFFER, "c1", "o1")
    ]


async def test_the_recruiting_contact_receives_the_candidate_and_three_answers() -> None:
    w = World()
    await _applied(w)
    assert await w.worker.run_once() == 1
    [email] = _emails(w)
    assert email.to == RECRUITER["email"]
    assert email.subject == "Nouvelle candidature : Aide-soignant(e) de nuit"
    for words in (
        "Bonjour Claire Recruteuse,",
        "Prénom : Camille",
        "Diplômes : Diplôme d'État d'aide-soignant",
        "3 ans",
        "Disponible à partir du 4 janvier 2027",
        "Habite à 12 km du poste",
        "- à 12 km de chez vous",
        "Je travaille de nuit depuis trois ans, disponible dès janvier.",
        "E-mail : c1@exemple.fr",
    ):
        assert words in email.text, words
    assert phone_of("c1") not in email.text and phone_of("c1") not in email.html  # not shared
    assert [(x.action, x.candidate_id, x.target_id) for x in _links(email.text)] == [
        (Action.PROPOSE_EXCHANGE, "c1", OFFER),
        (Action.DECLINE, "c1", OFFER),
        (Action.HIRED, "c1", OFFER),
    ]
    assert "List-Unsubscribe" not in email.headers and "désinscri" not in email.text


async def test_nothing_of_the_contact_reaches_the_employer_unless_shared() -> None:
    w = World()
    await _applied(w, shares={"email": False, "phone": False})
    await w.worker.run_once()
    [email] = _emails(w)
    assert "c1@exemple.fr" not in email.text + email.html
    assert phone_of("c1") not in email.text + email.html
    assert "n'a pas souhaité transmettre ses coordonnées" in email.text
    both = World()
    await _applied(both, shares={"email": True, "phone": True})
    await both.worker.run_once()
    [shared] = _emails(both)
    assert f"Téléphone : {phone_of('c1')}" in shared.text


async def test_the_site_contact_is_used_when_the_vacancy_names_none() -> None:
    w = World()
    site = p.Establishment.model_validate(
        {
            "id": "etab-ehpad-bourg",
            "siret": samples.SIRET_EHPAD_BOURG,
            "name": "EHPAD Les Tilleuls",
            "kind": "ehpad",
            "commune_insee": samples.BOURG_EN_BRESSE,
            "recruiting_contact": {"name": "Site", "email": "rh@ehpad-tilleuls.fr"},
        }
    )
    await w.handlers.on_establishments([ev.EstablishmentRegistered.build(site, source="urn:partner:test")])
    w.know("c1")
    await w.handlers.on_vacancies([vacancy(OFFER, recruiting_contact=None)])
    await w.handlers.on_applications([submitted("c1", OFFER)])
    await w.worker.run_once()
    assert [m.to for m in _emails(w)] == ["rh@ehpad-tilleuls.fr"]


async def test_no_recruiting_contact_means_no_email_and_a_suppression_said_why() -> None:
    w = World()
    w.know("c1")
    await w.handlers.on_vacancies([vacancy(OFFER, recruiting_contact=None)])
    await w.handlers.on_applications([submitted("c1", OFFER)])
    await w.worker.run_once()  # waits a moment: the contact's topic may lag
    w.clock.advance(minutes=6)
    await w.worker.run_once()
    assert _emails(w) == []
    [row] = [r for r in w.db.rows_of(OFFER) if r["purpose"] == "application_received"]
    assert (row["state"], row["why"]) == ("suppressed", "no_contact")
    assert w.metrics.counts["outcome", "email", "application_received", "suppressed"] == 1
    [fact] = [e for e in w.publisher.published if isinstance(e, ev.NotificationSuppressed)]
    assert fact.data.recipient_id == OFFER and "@" not in fact.model_dump_json()


def test_the_reminder_comes_after_five_working_days_of_the_site() -> None:
    policy = Policy()
    thursday = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    assert reminder_at(thursday, "01", policy) == REMINDER_DUE
    # Easter 2026: Good Friday 3 April (worked in the Ain, not in Alsace), Easter Monday 6 April.
    wednesday = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    assert reminder_at(wednesday, "01", policy).date() == date(2026, 4, 9)
    assert reminder_at(wednesday, "67", policy).date() == date(2026, 4, 10)


async def test_one_reminder_at_its_time_and_never_again_whatever_replays() -> None:
    w = World()
    await _applied(w)
    await w.worker.run_once()
    [reminder] = [r for r in w.db.rows_of(OFFER) if r["purpose"] == "application_reminder"]
    assert reminder["not_before"] == REMINDER_DUE
    # A replay of the submission (same event) and a re-publication (new event id): nothing new.
    await w.handlers.on_applications([submitted("c1", OFFER)])
    await w.handlers.on_applications([submitted("c1", OFFER)])
    assert len(w.db.rows_of(OFFER)) == 2
    w.clock.set(REMINDER_DUE)
    assert await w.worker.run_once() == 1
    w.clock.advance(days=3)
    await w.handlers.on_applications([submitted("c1", OFFER)])
    assert await w.worker.run_once() == 0
    subjects = [m.subject for m in _emails(w)]
    assert subjects == [
        "Nouvelle candidature : Aide-soignant(e) de nuit",
        "Rappel : une candidature attend votre réponse (Aide-soignant(e) de nuit)",
    ]


@pytest.mark.parametrize("ending", ["answered", "withdrawn"])
async def test_an_answer_or_a_withdrawal_before_the_reminder_drops_it(ending: str) -> None:
    w = World()
    await _applied(w)
    await w.worker.run_once()
    fact = (
        answered("c1", OFFER, "interview_proposed")
        if ending == "answered"
        else (application_withdrawn("c1", OFFER, "candidate"))
    )
    await w.handlers.on_applications([fact])
    [reminder] = [r for r in w.db.rows_of(OFFER) if r["purpose"] == "application_reminder"]
    assert (reminder["state"], reminder["why"]) == ("suppressed", "withdrawn")
    w.clock.set(REMINDER_DUE + timedelta(hours=1))
    await w.worker.run_once()
    assert not any(m.subject.startswith("Rappel") for m in _emails(w))


async def test_the_candidate_is_told_each_answer_in_french_once() -> None:
    w = World()
    await _applied(w)
    await w.worker.run_once()
    for fact in (
        answered("c1", OFFER, "interview_proposed"),
        answered("c1", OFFER, "interview_proposed"),  # a second click, published again
        answered("c1", OFFER, "hired"),
    ):
        await w.handlers.on_applications([fact])
    await w.worker.run_once()
    told = [m for m in _emails(w) if m.to == "c1@exemple.fr"]
    assert [m.subject for m in told] == [
        "L'établissement vous propose un échange : Aide-soignant(e) de nuit",
        "Félicitations : Aide-soignant(e) de nuit",
    ]
    exchange = told[0].text
    assert (
        "Claire Recruteuse" in exchange and RECRUITER["email"] in exchange and RECRUITER["phone"] in exchange
    )
    assert len([m for m in w.sms.sent.values() if m.to == phone_of("c1")]) == 2


async def test_a_decline_is_told_kindly_with_its_reason_in_french() -> None:
    w = World()
    await _applied(w)
    await w.handlers.on_applications([answered("c1", OFFER, "declined", reason="missing_diploma")])
    await w.worker.run_once()
    [told] = [m for m in _emails(w) if m.to == "c1@exemple.fr"]
    assert "le diplôme demandé pour ce poste vous manque" in told.text
    assert "Ce n'est pas un avis sur vous" in told.text
    assert RECRUITER["email"] not in told.text


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("unanswered", "Ce silence ne dit rien de vous"),
        ("offer_closed", "Cette offre n'est plus disponible : l'offre a été retirée"),
        ("offer_filled", "Cette offre n'est plus disponible : tous les postes"),
    ],
)
async def test_a_closing_is_told_to_the_candidate(reason: str, words: str) -> None:
    w = World()
    await _applied(w)
    await w.handlers.on_applications([application_withdrawn("c1", OFFER, reason)])
    await w.handlers.on_applications([application_withdrawn("c1", OFFER, reason)])
    await w.worker.run_once()
    [told] = [m for m in _emails(w) if m.to == "c1@exemple.fr"]
    assert words in told.text


async def test_the_candidate_own_withdrawal_sends_them_nothing_and_stops_the_employer_email() -> None:
    w = World()
    await _applied(w)
    await w.handlers.on_applications([application_withdrawn("c1", OFFER, "candidate")])
    await w.worker.run_once()
    assert _emails(w) == [] and w.sms.sent == {}
    assert {r["state"] for r in w.db.rows_of(OFFER)} == {"suppressed"}


async def test_erasure_empties_the_employer_rows_and_a_replay_sends_nothing() -> None:
    w = World()
    await _applied(w, WHO)
    await w.worker.run_once()
    await w.handlers.on_contact_erased(WHO)
    rows = w.db.rows_of(OFFER)
    assert {r["purpose"]: (r["state"], r["payload"]) for r in rows} == {
        "application_received": ("sent", {}),
        "application_reminder": ("suppressed", {}),
    }
    assert WHO not in repr(rows)
    await w.handlers.on_applications([submitted(WHO, OFFER)])  # re-published after the erasure
    w.clock.set(REMINDER_DUE)
    assert await w.worker.run_once() == 0
    assert len(_emails(w)) == 1
    pseudonym = Pseudonymizer(DEVELOPMENT_PSEUDONYM_KEY).candidate(WHO)
    assert all(r["payload"] == {} for r in w.db.rows_of(pseudonym))


async def test_an_expired_link_is_renewed_once_a_day_to_whom_it_acts_for() -> None:
    w = World()
    await _applied(w)
    await w.worker.run_once()
    expired = NOON - timedelta(days=1)
    employer = Link(Action.DECLINE, "c1", OFFER, expired)
    candidate = Link(Action.INTERESTED, "c1", OFFER, expired)
    for link in (employer, employer, candidate, candidate):
        await w.handlers.renew_link(link)
    await w.worker.run_once()
    renewed = [m for m in _emails(w) if m.subject.startswith("Votre nouveau lien")]
    assert [m.to for m in renewed] == [RECRUITER["email"], "c1@exemple.fr"]
    assert [(x.action, x.candidate_id, x.target_id) for x in _links(renewed[0].text)] == [
        (Action.DECLINE, "c1", OFFER)
    ]
    assert [x.action for x in _links(renewed[1].text)] == [Action.INTERESTED]
    w.clock.advance(days=1)
    await w.handlers.renew_link(employer)
    await w.worker.run_once()
    assert len([m for m in _emails(w) if m.subject.startswith("Votre nouveau lien")]) == 3
