"""The catalogue's pages of issue 14 in a real browser: every page at 360 and 1280 px, axe, nothing from outside.

The pages are served by uvicorn on 127.0.0.1 (in a thread of their own: the browser's calls block
the test's thread) on a fake application desk and fake offers: what is checked here is the HTML,
its accessibility and its paths through forms, not the application state behind the port.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import uvicorn
from vocation_catalogue.adapters.http import create_http_app
from vocation_catalogue.adapters.pages import create_pages_router
from vocation_catalogue.core.applications import ApplicationState, MatchView
from vocation_catalogue.testing import FakeSearch
from vocation_catalogue.testing.pages_fakes import FakeApplicationDesk, FakeOffers, vacancy_item
from vocation_local.browser import PageChecker
from vocation_shared.http.throttle import FailureThrottle
from vocation_shared.links import Action, LinkSigner

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]  # the first run may install Chromium

KEY = "browser-tests-link-key-0123456789abcdef"
OFFER = "vac-browser-open"
CLOSED = "vac-browser-closed"
MESSAGE = "Bonjour, je suis disponible dès lundi."
LONG_DESCRIPTION = (
    "Au sein d'une équipe de quatre soignants, vous accompagnez les résidents la nuit : surveillance, "
    "aide au coucher, réponse aux appels, transmissions écrites et orales avec l'équipe de jour. "
    "Un tutorat est proposé pendant les deux premières semaines."
)


class Served:
    """The pages on uvicorn in a thread; `url(action, candidate)` signs a link to them."""

    def __init__(self) -> None:
        self.links = LinkSigner([KEY])
        self.offers = FakeOffers()
        self.offers.add(
            "vacancies",
            vacancy_item(
                OFFER,
                description=LONG_DESCRIPTION,
                salary_monthly_gross_eur=2150,
                application_url="https://partenaire.example.fr/offres/42",
            ),
        )
        self.offers.add("vacancies", vacancy_item(CLOSED, status="filled", title="Aide-soignant(e) de jour"))
        for n in range(3):
            position = {"lat": 46.2052 + 0.03 * (n + 1), "lon": 5.2255}
            self.offers.add("vacancies", vacancy_item(f"vac-browser-near-{n}", position=position))
        self.desk = FakeApplicationDesk(open_offers=[OFFER], closed_offers=[CLOSED])
        router = create_pages_router(
            self.desk,
            self.offers,
            self.links,
            "http://127.0.0.1:8083/liens/nouveau",
            throttle=FailureThrottle(per_minute=600, burst=1000),
        )
        app = create_http_app(FakeSearch(), [], pages=router)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve()), daemon=True)

    def __enter__(self) -> Served:
        self._thread.start()
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while not self._server.started:
            if datetime.now(UTC) > deadline or not self._thread.is_alive():
                raise RuntimeError("the pages' server did not start")
            threading.Event().wait(0.05)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def url(self, action: Action, candidate: str, offer: str = OFFER, **signing: Any) -> str:
        return f"{self.base}/l/{self.links.sign(action, candidate, offer, **signing)}"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with Served() as running:
        yield running


def _candidate(served: Served, state: ApplicationState = ApplicationState.NONE) -> str:
    candidate = str(uuid.uuid4())
    if state is not ApplicationState.NONE:
        served.desk.set_state(candidate, OFFER, state)
    served.desk.matches[candidate, OFFER] = MatchView(
        "match-browser",
        14.2,
        ("Vous avez le DEAS demandé", "À 14 km de chez vous", "Poste de nuit, comme vous l'acceptez"),
    )
    return candidate


def _commands_of(served: Served, *candidates: str) -> list[tuple[Any, ...]]:
    """The state-changing calls the desk received for these candidates (the desk is the module's)."""
    return [call for call in served.desk.commands() if call[1] in candidates]


def _confirming(
    button: str, heading: str, prepare: Callable[[Any], None] | None = None
) -> Callable[[Any], None]:
    """Fill the form (`prepare`), click `button` when the page still shows it (the second width finds
    the result already), then wait for the heading `heading`."""

    def act(page: Any) -> None:
        if prepare is not None:
            prepare(page)
        confirm = page.get_by_role("button", name=button)
        if confirm.count():
            confirm.click()
        page.get_by_role("heading", name=heading).wait_for(timeout=10_000)

    return act


def _check(browser_checker: PageChecker, url: str, name: str, status: int, **kwargs: Any) -> None:
    report = browser_checker.check(url, name, **kwargs)
    assert report.statuses == {360: status, 1280: status}, report.statuses
    report.assert_clean()


def test_the_public_offer_pages(browser_checker: PageChecker, served: Served) -> None:
    _check(browser_checker, f"{served.base}/offres/{OFFER}", "offre-publique", 200)
    _check(browser_checker, f"{served.base}/offres/{CLOSED}", "offre-plus-disponible", 200)
    _check(browser_checker, f"{served.base}/offres/inconnue", "offre-introuvable", 404)


def test_the_personal_offer_page_and_the_candidate_forms(
    browser_checker: PageChecker, served: Served
) -> None:
    candidate = _candidate(served)
    _check(browser_checker, served.url(Action.VIEW_OFFER, candidate), "offre-personnelle", 200)
    _check(browser_checker, served.url(Action.INTERESTED, candidate), "interesse-formulaire", 200)
    _check(browser_checker, served.url(Action.NOT_FOR_ME, candidate), "pas-pour-moi-formulaire", 200)
    applied = _candidate(served, ApplicationState.SUBMITTED)
    _check(browser_checker, served.url(Action.VIEW_OFFER, applied), "offre-personnelle-candidature", 200)
    _check(browser_checker, served.url(Action.WITHDRAW, applied), "retrait-formulaire", 200)
    assert _commands_of(served, candidate, applied) == []


def test_the_candidate_confirms_and_sees_the_result(browser_checker: PageChecker, served: Served) -> None:
    candidate = _candidate(served)

    def say_yes(page: Any) -> None:
        page.get_by_role("link", name="Je suis intéressé(e)").click()
        page.get_by_label("Votre message à l'employeur (facultatif)").fill(MESSAGE)
        page.get_by_label("Transmettre mon adresse e-mail à l'employeur").check()

    interested = _confirming("Confirmer mon intérêt", "Votre intérêt a été transmis à l'employeur", say_yes)
    report = browser_checker.check(
        served.url(Action.VIEW_OFFER, candidate), "interesse-confirme", act=interested, widths=(360,)
    )
    report.assert_clean()
    assert served.desk.submitted[candidate, OFFER] == (MESSAGE, True, False)
    other = _candidate(served)
    too_far = _confirming(
        "Confirmer",
        "C'est noté : cette offre n'est pas pour vous",
        lambda page: page.get_by_label("Trop loin").check(),
    )
    report = browser_checker.check(
        served.url(Action.NOT_FOR_ME, other), "pas-pour-moi-confirme", act=too_far, widths=(1280,)
    )
    report.assert_clean()
    _check(browser_checker, served.url(Action.NOT_FOR_ME, other), "pas-pour-moi-deja-fait", 200)


def test_a_form_sent_back_with_an_error(browser_checker: PageChecker, served: Served) -> None:
    candidate = _candidate(served, ApplicationState.SUBMITTED)

    without_reason = _confirming(
        "Envoyer ma réponse",
        "Le formulaire n'a pas été envoyé",
        lambda page: page.evaluate(
            "document.querySelectorAll('[required]').forEach(e => e.removeAttribute('required'))"
        ),
    )
    report = browser_checker.check(served.url(Action.DECLINE, candidate), "refus-erreur", act=without_reason)
    report.assert_clean()
    assert _commands_of(served, candidate) == []


def test_the_employer_pages(browser_checker: PageChecker, served: Served) -> None:
    candidate = _candidate(served, ApplicationState.SUBMITTED)
    _check(browser_checker, served.url(Action.PROPOSE_EXCHANGE, candidate), "echange-formulaire", 200)
    _check(browser_checker, served.url(Action.DECLINE, candidate), "refus-formulaire", 200)
    _check(browser_checker, served.url(Action.HIRED, candidate), "embauche-formulaire", 200)
    report = browser_checker.check(
        served.url(Action.PROPOSE_EXCHANGE, candidate),
        "echange-propose",
        act=_confirming("Proposer un échange", "L'employeur propose un échange"),
    )
    report.assert_clean()
    report = browser_checker.check(
        served.url(Action.HIRED, candidate),
        "embauche-enregistree",
        act=_confirming("Confirmer l'embauche", "Embauche enregistrée"),
    )
    report.assert_clean()
    _check(browser_checker, served.url(Action.DECLINE, candidate), "refus-candidature-terminee", 409)


def test_the_pages_of_links_that_cannot_act(browser_checker: PageChecker, served: Served) -> None:
    candidate = _candidate(served)
    _check(browser_checker, served.url(Action.INTERESTED, candidate, CLOSED), "interesse-offre-fermee", 409)
    _check(browser_checker, f"{served.base}/l/ce-lien-est-faux", "lien-invalide", 403)
    expired = served.url(
        Action.INTERESTED, candidate, ttl=timedelta(days=30), now=datetime.now(UTC) - timedelta(days=40)
    )
    _check(browser_checker, expired, "lien-expire", 410)
