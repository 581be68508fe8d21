"""The pages people open from a message, on a fake desk: what each route shows, and that only a POST acts."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs
from vocation_catalogue.adapters.http import create_http_app
from vocation_catalogue.adapters.pages import create_pages_router
from vocation_catalogue.core.applications import ApplicationState, EmployerAnswer, MatchView
from vocation_catalogue.testing import FakeSearch
from vocation_catalogue.testing.pages_fakes import FakeApplicationDesk, FakeOffers, vacancy_item
from vocation_shared.contracts.vocabulary import (
    ApplicationAnswer,
    ApplicationDeclineReason,
    ApplicationWithdrawalReason,
    MatchDeclineReason,
)
from vocation_shared.http.throttle import FailureThrottle
from vocation_shared.links import Action, LinkSigner

pytestmark = pytest.mark.unit

KEY = "pages-unit-tests-link-key-0123456789abcdef"
RENEWAL = "http://127.0.0.1:8083/liens/nouveau"
CANDIDATE = "5f0c7a52-3c1e-4f7e-9a59-0d6b7b3f1a11"
OTHER_CANDIDATE = "0b7e8f21-7d54-4c8e-8d0c-6a1d2b3c4d5e"
OFFER = "vac-open"
CLOSED = "vac-closed"
AMBERIEU = {"lat": 45.958, "lon": 5.357}
FORMS = (Action.INTERESTED, Action.NOT_FOR_ME, Action.PROPOSE_EXCHANGE, Action.DECLINE, Action.HIRED)


@dataclass
class Pages:
    """The pages on a fake desk and fake offers, and a browser-like client."""

    desk: FakeApplicationDesk
    offers: FakeOffers
    links: LinkSigner
    client: httpx.AsyncClient
    throttle: FailureThrottle

    def url(self, action: Action, candidate: str = CANDIDATE, offer: str = OFFER) -> str:
        return f"/l/{self.links.sign(action, candidate, offer)}"


def _offers() -> FakeOffers:
    offers = FakeOffers()
    offers.add("vacancies", vacancy_item(OFFER, application_url="https://partenaire.example.fr/offre/42"))
    offers.add("vacancies", vacancy_item(CLOSED, status="closed", title="Aide-soignant(e) pourvu"))
    for n in range(5):  # open aide-soignant offers, farther and farther from Bourg-en-Bresse
        position = {"lat": 46.2052 + 0.02 * (n + 1), "lon": 5.2255}
        offers.add("vacancies", vacancy_item(f"vac-near-{n}", position=position, title=f"Proche {n}"))
    offers.add("vacancies", vacancy_item("vac-other-metier", rome_code="J1506", title="Infirmier(ère)"))
    return offers


def _client(app: Any, address: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(
        transport=transport, base_url="http://catalogue", headers={"Accept": "text/html"}
    )


@pytest.fixture
async def pages() -> AsyncIterator[Pages]:
    offers = _offers()
    desk = FakeApplicationDesk(open_offers=[OFFER, "vac-near-0"], closed_offers=[CLOSED])
    links = LinkSigner([KEY])
    throttle = FailureThrottle(per_minute=6, burst=3)
    router = create_pages_router(desk, offers, links, RENEWAL, throttle=throttle, monotonic=lambda: 0.0)
    app = create_http_app(FakeSearch(), [], pages=router)
    async with _client(app) as client:
        yield Pages(desk, offers, links, client, throttle)


def _text(html: str) -> str:
    """The page's words, tags removed and entities decoded."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _assert_page(answer: httpx.Response, status: int, *words: str) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert '<html lang="fr">' in html
    assert html.count("<main") == 1
    assert re.search(r"<title>[^<]+ — Vocation</title>", html)
    text = _text(html)
    for word in words:
        assert word in text, f"{word!r} not in {text[:2000]!r}"
    return text


def _outside_resources(html: str) -> list[str]:
    """Stylesheets, scripts, images… that a browser would fetch from another origin."""
    return re.findall(r'<(?:link|script|img|iframe|source)[^>]+(?:href|src)="(?:https?:)?//[^"]*"', html)


# --- the public offer page ----------------------------------------------------------------------


async def test_the_public_offer_page_says_what_where_who_and_when(pages: Pages) -> None:
    answer = await pages.client.get(f"/offres/{OFFER}")
    _assert_page(
        answer,
        200,
        "Aide-soignant(e) de nuit",
        "EHPAD Les Tilleuls",
        "Bourg-en-Bresse (01)",
        "CDI (contrat à durée indéterminée)",
        "Temps plein, 35 h par semaine ; travail de nuit et le week-end",
        "Diplôme d'État d'aide-soignant",
        "Logement proposé",
        "1er décembre 2026",
        "Voir l'offre sur le site de l'employeur",
    )
    assert 'href="https://partenaire.example.fr/offre/42"' in answer.text
    assert "Je suis intéressé(e)" not in answer.text  # a public page acts for nobody
    assert _outside_resources(answer.text) == []
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert pages.desk.calls == []


async def test_a_closed_offer_says_so_and_proposes_three_similar_open_offers_nearest_first(
    pages: Pages,
) -> None:
    answer = await pages.client.get(f"/offres/{CLOSED}")
    text = _assert_page(answer, 200, "Cette offre n'est plus disponible", "Offres proches du même métier")
    shown = re.findall(r'href="/offres/([^"]+)"', answer.text)
    assert shown == [OFFER, "vac-near-0", "vac-near-1"]  # same métier, open, nearest; never itself
    assert "Infirmier" not in text
    assert "Voir l'offre sur le site" not in text


@pytest.mark.parametrize("offer_id", ["nope", "a" * 200, "a b", "%3Cscript%3E"])
async def test_an_unknown_offer_is_a_french_404(pages: Pages, offer_id: str) -> None:
    answer = await pages.client.get(f"/offres/{offer_id}")
    _assert_page(answer, 404, "Offre introuvable")


async def test_everything_an_offer_says_is_escaped(pages: Pages) -> None:
    hostile = '<script>alert("x")</script>'
    pages.offers.add(
        "vacancies", vacancy_item("vac-hostile", title=f"Titre {hostile}", description=f"Texte {hostile}")
    )
    answer = await pages.client.get("/offres/vac-hostile")
    assert "<script>" not in answer.text
    assert "&lt;script&gt;" in answer.text
    _assert_page(answer, 200, f"Titre {hostile}")


async def test_an_immersion_slot_has_its_page_too(pages: Pages) -> None:
    pages.offers.add(
        "immersions",
        {
            "id": "slot-1",
            "title": "Vis ma vie d'aide-soignant",
            "status": "open",
            "places_left": 2,
            "start_date": "2026-12-01",
            "end_date": "2026-12-12",
            "commune_name": "Bourg-en-Bresse",
            "departement": "01",
            "establishment": {"name": "EHPAD Les Tilleuls", "kind": "ehpad"},
        },
    )
    answer = await pages.client.get("/offres/slot-1")
    _assert_page(answer, 200, "Vis ma vie d'aide-soignant", "Immersion professionnelle", "Places restantes 2")


async def test_the_stylesheet_is_served_here(pages: Pages) -> None:
    page = await pages.client.get(f"/offres/{OFFER}")
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    assert href is not None
    assert href.group(1).startswith("/statique/pages.css")
    css = await pages.client.get(href.group(1))
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "@import" not in css.text
    assert "url(" not in css.text  # no font or image from anywhere


# --- the personal offer page (view_offer) ---------------------------------------------------------


async def test_the_personal_offer_page_shows_distance_reasons_and_signs_its_own_buttons(pages: Pages) -> None:
    pages.desk.matches[CANDIDATE, OFFER] = MatchView(
        "match-1", 12.4, ("Vous avez le DEAS demandé", "À 12 km de chez vous")
    )
    answer = await pages.client.get(pages.url(Action.VIEW_OFFER))
    _assert_page(
        answer,
        200,
        "à 12 km de chez vous",
        "Pourquoi cette offre vous est proposée",
        "Vous avez le DEAS demandé",
        "Je suis intéressé(e)",
        "Pas pour moi",
        "Voir l'offre sur le site de l'employeur",
    )
    tokens = re.findall(r'href="/l/([A-Za-z0-9_-]+)"', answer.text)
    checked = [pages.links.verify(token) for token in tokens]
    assert [(c.valid, c.link and c.link.action) for c in checked] == [
        (True, Action.INTERESTED),
        (True, Action.NOT_FOR_ME),
    ]
    assert all(c.link and (c.link.candidate_id, c.link.target_id) == (CANDIDATE, OFFER) for c in checked)
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in answer.headers["x-robots-tag"]
    assert pages.desk.commands() == []


async def test_after_applying_the_personal_page_says_so_and_offers_to_withdraw(pages: Pages) -> None:
    pages.desk.set_state(CANDIDATE, OFFER, ApplicationState.INTERVIEW_PROPOSED)
    answer = await pages.client.get(pages.url(Action.VIEW_OFFER))
    _assert_page(answer, 200, "L'employeur propose un échange", "Retirer ma candidature")
    assert "Je suis intéressé(e)</a>" not in answer.text
    tokens = re.findall(r'href="/l/([A-Za-z0-9_-]+)"', answer.text)
    assert [pages.links.verify(t).link.action for t in tokens] == [Action.WITHDRAW]  # type: ignore[union-attr]


async def test_the_personal_page_of_a_closed_offer_has_no_buttons_and_similar_offers(pages: Pages) -> None:
    answer = await pages.client.get(pages.url(Action.VIEW_OFFER, offer=CLOSED))
    _assert_page(answer, 200, "Cette offre n'est plus disponible", "Offres proches du même métier")
    assert "/l/" not in answer.text


async def test_the_personal_page_of_an_unknown_offer_is_a_404(pages: Pages) -> None:
    answer = await pages.client.get(pages.url(Action.VIEW_OFFER, offer="gone"))
    _assert_page(answer, 404, "Offre introuvable")


# --- GET shows, never acts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "state", "words"),
    [
        (Action.INTERESTED, ApplicationState.NONE, ["Ce que l'employeur recevra", "Confirmer mon intérêt"]),
        (Action.NOT_FOR_ME, ApplicationState.NONE, ["Trop loin", "Je suis déjà en poste", "(facultatif)"]),
        (Action.WITHDRAW, ApplicationState.SUBMITTED, ["Retirer ma candidature"]),
        (Action.PROPOSE_EXCHANGE, ApplicationState.SUBMITTED, ["vos coordonnées de recrutement"]),
        (Action.DECLINE, ApplicationState.SUBMITTED, ["Le diplôme requis manque", "(obligatoire)"]),
        (Action.HIRED, ApplicationState.INTERVIEW_PROPOSED, ["compté comme pourvu", "Confirmer l'embauche"]),
    ],
)
async def test_a_link_opens_its_confirmation_form_and_changes_nothing(
    pages: Pages, action: Action, state: ApplicationState, words: list[str]
) -> None:
    pages.desk.set_state(CANDIDATE, OFFER, state)
    url = pages.url(action)
    answer = await pages.client.get(url)
    _assert_page(answer, 200, "Aide-soignant(e) de nuit", *words)
    assert f'<form method="post" action="{url}">' in answer.text
    assert pages.desk.commands() == []
    # every field has its label
    for field_id in re.findall(r'<(?:input|textarea)[^>]*\bid="([^"]+)"', answer.text):
        assert f'<label for="{field_id}">' in answer.text, field_id


async def test_the_interest_form_says_what_the_employer_will_receive_before_confirming(pages: Pages) -> None:
    answer = await pages.client.get(pages.url(Action.INTERESTED))
    _assert_page(
        answer,
        200,
        "votre prénom, vos diplômes, votre expérience et vos disponibilités",
        "votre adresse e-mail et votre téléphone, seulement si vous cochez les cases",
        "Transmettre mon adresse e-mail à l'employeur",
        "Transmettre mon numéro de téléphone à l'employeur",
    )
    assert 'maxlength="1000"' in answer.text
    assert "checked" not in answer.text  # nothing shared unless the candidate says so


# --- POST acts, once ------------------------------------------------------------------------------


async def test_confirming_interest_submits_once_and_a_second_post_shows_the_same_page(pages: Pages) -> None:
    url = pages.url(Action.INTERESTED)
    form = {"message": "Bonjour,\r\nje suis disponible.", "partager_email": "oui"}
    first = await pages.client.post(url, data=form)
    second = await pages.client.post(url, data=form)
    _assert_page(first, 200, "Votre intérêt a été transmis à l'employeur")
    assert first.text == second.text
    assert pages.desk.commands() == [
        ("submit", CANDIDATE, OFFER, "Bonjour,\nje suis disponible.", True, False),
        ("submit", CANDIDATE, OFFER, "Bonjour,\nje suis disponible.", True, False),
    ]
    assert pages.desk.submitted == {(CANDIDATE, OFFER): ("Bonjour,\nje suis disponible.", True, False)}
    again = await pages.client.get(url)  # the same link clicked again: the same result, no form
    assert _text(again.text) == _text(first.text)


async def test_two_tabs_confirming_at_once_give_one_application_and_the_same_page(pages: Pages) -> None:
    url = pages.url(Action.INTERESTED)
    first, second = await asyncio.gather(pages.client.post(url, data={}), pages.client.post(url, data={}))
    assert first.status_code == second.status_code == 200
    assert first.text == second.text
    assert len(pages.desk.submitted) == 1


async def test_an_empty_message_is_none_and_shares_default_to_nothing(pages: Pages) -> None:
    await pages.client.post(pages.url(Action.INTERESTED), data={"message": "   "})
    assert pages.desk.commands() == [("submit", CANDIDATE, OFFER, None, False, False)]


async def test_a_message_of_1000_characters_is_accepted_and_1001_sends_the_form_back(pages: Pages) -> None:
    url = pages.url(Action.INTERESTED)
    too_long = await pages.client.post(url, data={"message": "é" * 1001, "partager_telephone": "oui"})
    text = _assert_page(too_long, 422, "Le formulaire n'a pas été envoyé", "raccourcissez-le à 1000 au plus")
    assert "Erreur :" in too_long.text.split("</title>")[0]
    assert 'aria-invalid="true"' in too_long.text
    assert 'id="partager_telephone" name="partager_telephone" value="oui" checked' in too_long.text
    assert "é" * 1001 in text  # what was typed is kept
    assert pages.desk.commands() == []
    fits = await pages.client.post(url, data={"message": "é" * 1000})
    assert fits.status_code == 200
    assert pages.desk.commands()[0][3] == "é" * 1000


async def test_a_message_is_escaped_when_the_form_comes_back(pages: Pages) -> None:
    hostile = "</textarea><script>alert(1)</script>"
    answer = await pages.client.post(pages.url(Action.INTERESTED), data={"message": hostile + "x" * 1000})
    assert answer.status_code == 422
    assert "<script>" not in answer.text
    assert "&lt;/textarea&gt;&lt;script&gt;" in answer.text


@pytest.mark.parametrize(
    ("action", "form", "field"),
    [
        (Action.INTERESTED, {"partager_email": "peut-être"}, "Cochez ou décochez"),
        (Action.INTERESTED, {"message": "a\x00b"}, "caractères invisibles"),
        (Action.INTERESTED, "message=a&message=b", "plusieurs fois"),
        (Action.NOT_FOR_ME, {"raison": "trop_cher"}, "Choisissez une raison"),
        (Action.DECLINE, {}, "Choisissez une raison"),
        (Action.DECLINE, {"raison": "too_far"}, "Choisissez une raison"),  # a candidate's reason
    ],
)
async def test_bad_input_sends_the_form_back_with_a_french_error(
    pages: Pages, action: Action, form: Any, field: str
) -> None:
    pages.desk.set_state(
        CANDIDATE, OFFER, ApplicationState.SUBMITTED if action is Action.DECLINE else ApplicationState.NONE
    )
    if isinstance(form, str):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        answer = await pages.client.post(pages.url(action), content=form, headers=headers)
    else:
        answer = await pages.client.post(pages.url(action), data=form)
    _assert_page(answer, 422, field)
    assert pages.desk.commands() == []


async def test_pas_pour_moi_with_a_reason_teaches_and_without_one_is_fine(pages: Pages) -> None:
    answer = await pages.client.post(pages.url(Action.NOT_FOR_ME), data={"raison": "too_far"})
    _assert_page(answer, 200, "cette offre n'est pas pour vous", "plus proches de chez vous")
    await pages.client.post(pages.url(Action.NOT_FOR_ME, offer="vac-near-0"), data={})
    assert pages.desk.commands() == [
        ("decline_match", CANDIDATE, OFFER, MatchDeclineReason.TOO_FAR),
        ("decline_match", CANDIDATE, "vac-near-0", None),
    ]


async def test_withdrawing_an_application(pages: Pages) -> None:
    pages.desk.set_state(CANDIDATE, OFFER, ApplicationState.SUBMITTED)
    answer = await pages.client.post(pages.url(Action.WITHDRAW))
    _assert_page(answer, 200, "Votre candidature est retirée", "retirée par le candidat")
    assert pages.desk.commands() == [("withdraw", CANDIDATE, OFFER)]


@pytest.mark.parametrize(
    ("action", "form", "expected", "words"),
    [
        (
            Action.PROPOSE_EXCHANGE,
            {},
            EmployerAnswer(ApplicationAnswer.INTERVIEW_PROPOSED),
            ["Vous avez proposé un échange"],
        ),
        (
            Action.DECLINE,
            {"raison": "missing_diploma"},
            EmployerAnswer(ApplicationAnswer.DECLINED, ApplicationDeclineReason.MISSING_DIPLOMA),
            ["Vous n'avez pas donné suite", "le diplôme requis manque"],
        ),
        (Action.HIRED, {}, EmployerAnswer(ApplicationAnswer.HIRED), ["L'embauche est enregistrée"]),
    ],
)
async def test_the_employer_answers_in_one_confirmed_click(
    pages: Pages, action: Action, form: dict[str, str], expected: EmployerAnswer, words: list[str]
) -> None:
    pages.desk.set_state(CANDIDATE, OFFER, ApplicationState.SUBMITTED)
    url = pages.url(action)
    first = await pages.client.post(url, data=form)
    second = await pages.client.post(url, data=form)
    _assert_page(first, 200, *words)
    assert first.text == second.text
    assert pages.desk.commands()[0] == ("answer", CANDIDATE, OFFER, expected)
    assert "Offres proches" not in first.text


# --- refusals, explained kindly -------------------------------------------------------------------


async def test_interest_in_a_closed_offer_is_refused_with_similar_offers(pages: Pages) -> None:
    url = pages.url(Action.INTERESTED, offer=CLOSED)
    shown = await pages.client.get(url)
    _assert_page(shown, 409, "Cette offre n'est plus disponible", "Offres proches du même métier")
    assert "<form" not in shown.text
    posted = await pages.client.post(url, data={})
    _assert_page(posted, 409, "Cette offre n'est plus disponible", "Offres proches du même métier")
    assert pages.desk.commands() == [("submit", CANDIDATE, CLOSED, None, False, False)]


@pytest.mark.parametrize(
    ("action", "state", "status", "words"),
    [
        (Action.HIRED, ApplicationState.DECLINED, 409, ["Cette candidature est terminée", "pas donné suite"]),
        (Action.DECLINE, ApplicationState.WITHDRAWN, 409, ["Cette candidature est terminée"]),
        (Action.PROPOSE_EXCHANGE, ApplicationState.NONE, 409, ["Aucune candidature en cours"]),
        (Action.WITHDRAW, ApplicationState.MATCH_DECLINED, 409, ["Aucune candidature en cours"]),
    ],
)
async def test_an_answer_that_can_no_longer_act_says_why(
    pages: Pages, action: Action, state: ApplicationState, status: int, words: list[str]
) -> None:
    pages.desk.set_state(
        CANDIDATE,
        OFFER,
        state,
        withdrawal_reason=ApplicationWithdrawalReason.CANDIDATE
        if state is ApplicationState.WITHDRAWN
        else None,
    )
    url = pages.url(action)
    shown = await pages.client.get(url)
    posted = await pages.client.post(url, data={"raison": "other"})
    for answer in (shown, posted):
        _assert_page(answer, status, *words)
        assert "<form" not in answer.text


async def test_an_unknown_candidate_is_told_kindly(pages: Pages) -> None:
    pages.desk.candidates = {OTHER_CANDIDATE}
    answer = await pages.client.post(pages.url(Action.INTERESTED), data={})
    _assert_page(answer, 404, "Profil introuvable")


async def test_a_link_acts_for_its_own_candidate_only(pages: Pages) -> None:
    pages.desk.set_state(OTHER_CANDIDATE, OFFER, ApplicationState.SUBMITTED)
    answer = await pages.client.post(pages.url(Action.WITHDRAW, candidate=CANDIDATE))
    _assert_page(answer, 409, "Aucune candidature en cours")
    assert pages.desk.views[OTHER_CANDIDATE, OFFER].state is ApplicationState.SUBMITTED


# --- forged, expired, throttled -------------------------------------------------------------------


def _tampered(token: str) -> str:
    swapped = "A" if token[10] != "A" else "B"
    return token[:10] + swapped + token[11:]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_forged_links_get_a_french_403(pages: Pages, method: str) -> None:
    other_key = LinkSigner(["another-deployment-key-0123456789abcdef"])
    genuine = pages.links.sign(Action.HIRED, CANDIDATE, OFFER)
    app = pages.client._transport.app  # type: ignore[attr-defined]
    for n, token in enumerate(
        (
            "forged",
            _tampered(genuine),
            other_key.sign(Action.HIRED, CANDIDATE, OFFER),
            pages.links.sign(Action.UNSUBSCRIBE_EMAIL, CANDIDATE),  # notifications' link, not a page here
            genuine + "=",
        )
    ):
        async with _client(app, f"192.0.2.{n}") as client:  # each from its own address: none throttled
            answer = await client.request(method, f"/l/{token}", data={"raison": "other"})
        _assert_page(answer, 403, "Lien invalide")
        assert answer.headers["cache-control"] == "no-store"
    assert pages.desk.calls == []


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_an_expired_link_gets_a_410_that_offers_a_fresh_one(pages: Pages, method: str) -> None:
    token = pages.links.sign(
        Action.INTERESTED,
        CANDIDATE,
        OFFER,
        ttl=timedelta(days=30),
        now=datetime.now(UTC) - timedelta(days=31),
    )
    answer = await pages.client.request(method, f"/l/{token}", data={})
    _assert_page(answer, 410, "Ce lien a expiré", "Recevoir un nouveau lien")
    assert f'<form method="post" action="{RENEWAL}">' in answer.text
    assert f'<input type="hidden" name="token" value="{token}">' in answer.text
    assert "form-action 'self' http://127.0.0.1:8083" in answer.headers["content-security-policy"]
    assert pages.desk.calls == []


async def test_too_many_forged_links_from_one_address_are_throttled_and_others_still_served(
    pages: Pages,
) -> None:
    for _ in range(3):
        assert (await pages.client.get("/l/forged")).status_code == 403
    throttled = await pages.client.get(pages.url(Action.VIEW_OFFER))  # even a valid one, for now
    _assert_page(throttled, 429, "Trop de tentatives", "Réessayez dans 10 secondes")
    assert throttled.headers["retry-after"] == "10"
    app = pages.client._transport.app  # type: ignore[attr-defined]
    async with _client(app, "198.51.100.9") as elsewhere:
        assert (await elsewhere.get(pages.url(Action.VIEW_OFFER))).status_code == 200


async def test_a_valid_link_is_never_charged(pages: Pages) -> None:
    for _ in range(10):
        assert (await pages.client.get(pages.url(Action.VIEW_OFFER))).status_code == 200
    assert len(pages.throttle) == 0


# --- what goes wrong ------------------------------------------------------------------------------


async def test_the_desk_down_gives_a_french_503_and_no_token_in_the_logs(pages: Pages) -> None:
    pages.desk.failure = OSError("connection refused")
    token = pages.links.sign(Action.INTERESTED, CANDIDATE, OFFER)
    with capture_logs() as logs:
        shown = await pages.client.get(f"/l/{token}")
        posted = await pages.client.post(f"/l/{token}", data={"message": "Bonjour"})
    for answer in (shown, posted):
        _assert_page(answer, 503, "Service momentanément indisponible")
        assert answer.headers["retry-after"] == "30"
    written = repr(logs)
    assert token not in written
    assert CANDIDATE not in written
    assert "Bonjour" not in written


async def test_an_unexpected_error_gives_a_french_500_without_the_token_in_the_logs(pages: Pages) -> None:
    pages.desk.failure = RuntimeError("bug")
    token = pages.links.sign(Action.VIEW_OFFER, CANDIDATE, OFFER)
    with capture_logs() as logs:
        answer = await pages.client.get(f"/l/{token}")
    _assert_page(answer, 500, "Erreur inattendue")
    assert token not in repr(logs)


async def test_a_body_too_large_is_refused_without_being_read(pages: Pages) -> None:
    answer = await pages.client.post(pages.url(Action.INTERESTED), data={"message": "x" * 20_000})
    _assert_page(answer, 413, "Formulaire trop long")
    assert pages.desk.commands() == []


async def test_nothing_to_post_on_the_offer_page(pages: Pages) -> None:
    answer = await pages.client.post(pages.url(Action.VIEW_OFFER), data={})
    _assert_page(answer, 405, "Rien à confirmer")
    assert pages.desk.calls == []


async def test_the_pages_are_not_in_the_api_document(pages: Pages) -> None:
    document = (await pages.client.get("/openapi.json")).json()
    assert not [path for path in document["paths"] if path.startswith(("/l/", "/offres", "/statique"))]


async def test_the_offer_page_with_the_database_down_is_a_french_503(pages: Pages) -> None:
    pages.offers.failure = OSError("connection refused")
    answer = await pages.client.get(f"/offres/{OFFER}")
    _assert_page(answer, 503, "Service momentanément indisponible")


async def test_the_deployment_router_reads_the_link_key_and_the_renewal_address_from_the_settings() -> None:
    from vocation_catalogue.adapters.pages import pages_router
    from vocation_catalogue.settings import CatalogueSettings

    settings = CatalogueSettings(
        link_key="deployment-link-key-0123456789abcdef",
        links_renewal_url="https://notifications.example.fr/liens/nouveau",
    )
    offers = _offers()
    app = create_http_app(FakeSearch(), [], pages=pages_router(settings, FakeApplicationDesk(), offers))
    signer = settings.link_signer()
    expired = signer.sign(Action.VIEW_OFFER, CANDIDATE, OFFER, now=datetime.now(UTC) - timedelta(days=31))
    async with _client(app) as client:
        assert (await client.get(f"/l/{signer.sign(Action.VIEW_OFFER, CANDIDATE, OFFER)}")).status_code == 200
        assert (
            await client.get(f"/l/{LinkSigner([KEY]).sign(Action.VIEW_OFFER, CANDIDATE, OFFER)}")
        ).status_code == 403
        answer = await client.get(f"/l/{expired}")
    assert '<form method="post" action="https://notifications.example.fr/liens/nouveau">' in answer.text
