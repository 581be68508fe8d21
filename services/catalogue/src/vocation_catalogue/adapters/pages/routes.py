"""The pages' routes: the public offer page, and the one entry of every signed link (GET shows, POST acts)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from vocation_shared.contracts.vocabulary import ApplicationAnswer
from vocation_shared.http.bodies import BodyTooLarge
from vocation_shared.http.throttle import FailureThrottle, retry_after
from vocation_shared.links import Action, Link, LinkSigner, Verdict
from vocation_shared.logs import get_logger

from vocation_catalogue.adapters.http import DATABASE_DOWN
from vocation_catalogue.adapters.pages import texts
from vocation_catalogue.adapters.pages.forms import (
    CHECKED,
    FIELDS,
    MAX_MESSAGE_CHARS,
    Answer,
    check,
    read_form,
)
from vocation_catalogue.adapters.pages.offers import OfferPage, find_offer, similar_offers
from vocation_catalogue.core.applications import (
    ENDED,
    ApplicationState,
    ApplicationView,
    EmployerAnswer,
    Outcome,
    Refusal,
)
from vocation_catalogue.ports import ApplicationDesk, OfferSearch

log = get_logger(__name__)

HERE = Path(__file__).parent
STYLESHEET = (HERE / "static" / "pages.css").read_bytes()
STYLESHEET_PATH = f"/statique/pages.css?v={hashlib.sha256(STYLESHEET).hexdigest()[:12]}"
_OFFER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
_NO_APPLICATION = frozenset({ApplicationState.NONE, ApplicationState.MATCH_DECLINED})
_ON_AN_APPLICATION = frozenset({Action.WITHDRAW}) | texts.EMPLOYER_ACTIONS
RETRY_AFTER_UNAVAILABLE_S = 30
_ANSWERS = {
    Action.PROPOSE_EXCHANGE: ApplicationAnswer.INTERVIEW_PROPOSED,
    Action.DECLINE: ApplicationAnswer.DECLINED,
    Action.HIRED: ApplicationAnswer.HIRED,
}
_REFUSAL_STATUS = {
    Refusal.UNKNOWN_CANDIDATE: 404,
    Refusal.UNKNOWN_OFFER: 404,
    Refusal.OFFER_CLOSED: 409,
    Refusal.ENDED: 409,
    Refusal.NOT_SUBMITTED: 409,
}

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _headers(renewal_url: str, *, personal: bool) -> dict[str, str]:
    """No outside resource, no framing, no Referer (tokens are in the URLs); personal pages are never stored."""
    headers = {
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
            f"frame-ancestors 'none'; form-action 'self' {_origin(renewal_url)}"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    if personal:
        headers["Cache-Control"] = "no-store"
        headers["X-Robots-Tag"] = "noindex, nofollow"
    else:
        headers["Cache-Control"] = "public, max-age=60"
    return headers


def _client(request: Request) -> str:
    """The socket's peer, or the client a trusted proxy names (uvicorn applies `forwarded_allow_ips`)."""
    return request.client.host if request.client is not None else "unknown"


def create_pages_router(
    desk: ApplicationDesk,
    search: OfferSearch,
    links: LinkSigner,
    renewal_url: str,
    *,
    throttle: FailureThrottle | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> APIRouter:
    """The pages people open from a message: `/offres/{id}`, and `/l/{token}` for every signed link.

    A GET never changes anything (mail scanners follow GETs); `POST /l/{token}` is the only change,
    and shows the result from the state, so a second POST shows the same page. A client address
    that opened too many forged links waits (429) until its bucket refills (`throttle`).
    """
    router = APIRouter(include_in_schema=False)
    bucket = throttle if throttle is not None else FailureThrottle()

    def page(template: str, status: int = 200, *, personal: bool = True, **context: Any) -> HTMLResponse:
        body = templates.get_template(template).render(
            stylesheet=STYLESHEET_PATH, personal=personal, **context
        )
        return HTMLResponse(body, status_code=status, headers=_headers(renewal_url, personal=personal))

    def message(status: int, title: str, text: str, *, personal: bool = True, **context: Any) -> HTMLResponse:
        return page("message.html", status, personal=personal, title=title, text=text, **context)

    async def guarded(where: str, work: Callable[[], Awaitable[Response]]) -> Response:
        """The page, or a French 503/500 page; the path is never logged (it holds the token)."""
        try:
            return await work()
        except DATABASE_DOWN as exc:
            log.warning("pages.unavailable", page=where, error=type(exc).__name__)
            response = message(
                503,
                "Service momentanément indisponible",
                "Un incident nous empêche de répondre. Rien n'a été enregistré : réessayez dans une minute.",
            )
            response.headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE_S)
            return response
        except Exception as exc:
            log.error("pages.unexpected_error", page=where, error=type(exc).__name__, exc_info=exc)
            return message(
                500,
                "Erreur inattendue",
                "Un incident nous empêche de répondre. Il a été enregistré ; merci de réessayer plus tard.",
            )

    def refused_by_throttle(request: Request) -> Response | None:
        wait = bucket.wait(_client(request), monotonic())
        if wait <= 0:
            return None
        seconds = retry_after(wait)
        response = message(
            429,
            "Trop de tentatives",
            f"Trop de liens invalides depuis votre adresse. Réessayez dans {seconds} secondes.",
        )
        response.headers["Retry-After"] = seconds
        return response

    def checked(request: Request, token: str) -> Link | Response:
        """The link a valid token says, or the page saying why it cannot act (403, 410, 429)."""
        if (refused := refused_by_throttle(request)) is not None:
            return refused
        verdict = links.verify(token)
        if verdict.link is None or verdict.link.action not in texts.PAGE_ACTIONS:
            bucket.failed(_client(request), monotonic())
            log.info("pages.link_refused", verdict="forged")
            return message(
                403,
                "Lien invalide",
                "Ce lien n'est pas valide. Utilisez le lien reçu dans votre message, sans le modifier.",
            )
        if verdict.verdict is Verdict.EXPIRED:
            log.info("pages.link_refused", verdict="expired", action=str(verdict.link.action))
            return message(
                410,
                "Ce lien a expiré",
                "Pour votre sécurité, les liens de Vocation ne servent que 30 jours. "
                "Nous pouvons vous envoyer un nouveau lien à l'adresse où vous avez reçu celui-ci.",
                renewal_url=renewal_url,
                token=token,
            )
        return verdict.link

    async def offer_with_similar(offer_id: str) -> tuple[OfferPage | None, list[OfferPage]]:
        offer = await find_offer(search, offer_id)
        if offer is None or offer.open:
            return offer, []
        return offer, await similar_offers(search, offer)

    def result(link: Link, outcome: Outcome, offer: OfferPage | None, similar: list[OfferPage]) -> Response:
        """The page after a confirmed click (or a click already done): from the state, not from the call."""
        employer = link.action in texts.EMPLOYER_ACTIONS
        view = outcome.view
        if outcome.refusal is not None:
            title, text = texts.REFUSALS[outcome.refusal]
            details = _state_lines(view, employer=employer) if outcome.refusal is Refusal.ENDED else []
            return page(
                "result.html",
                _REFUSAL_STATUS[outcome.refusal],
                title=title,
                lines=[text, *details],
                offer=offer,
                similar=[] if employer else similar,
                employer=employer,
            )
        return page(
            "result.html",
            title=_state_title(link.action, view),
            lines=_state_lines(view, employer=employer),
            offer=offer,
            similar=[],
            employer=employer,
        )

    def form(link: Link, token: str, offer: OfferPage, answer: Answer | None = None) -> Response:
        values = answer.values if answer is not None else dict.fromkeys(FIELDS, "")
        errors = answer.errors if answer is not None else {}
        title = texts.FORM_TITLES[link.action]
        return page(
            "form.html",
            422 if errors else 200,
            title=f"Erreur : {title}" if errors else title,
            heading=title,
            action=str(link.action),
            token=token,
            offer=offer,
            values=values,
            errors=errors,
            button=texts.CONFIRM_BUTTONS[link.action],
            checked=CHECKED,
            max_message=MAX_MESSAGE_CHARS,
            match_reasons=texts.MATCH_DECLINE_REASONS,
            decline_reasons=texts.APPLICATION_DECLINE_REASONS,
        )

    async def personal_offer(link: Link) -> Response:
        offer, similar = await offer_with_similar(link.target_id)
        if offer is None:
            title, text = texts.REFUSALS[Refusal.UNKNOWN_OFFER]
            return message(404, title, text)
        view = await desk.view(link.candidate_id, link.target_id)
        match = await desk.match(link.candidate_id, link.target_id)
        state = view.state
        buttons: dict[str, str] = {}
        can_apply = offer.open and offer.applicable and state not in texts.DONE_STATES[Action.INTERESTED]
        if can_apply:
            buttons["interested"] = links.sign(Action.INTERESTED, link.candidate_id, link.target_id)
        if offer.open and state in (ApplicationState.NONE, ApplicationState.WITHDRAWN):
            buttons["not_for_me"] = links.sign(Action.NOT_FOR_ME, link.candidate_id, link.target_id)
        if state in (ApplicationState.SUBMITTED, ApplicationState.INTERVIEW_PROPOSED):
            buttons["withdraw"] = links.sign(Action.WITHDRAW, link.candidate_id, link.target_id)
        status_lines = _state_lines(view, employer=False) if state is not ApplicationState.NONE else []
        return page(
            "offer.html",
            title=offer.title,
            offer=offer,
            similar=similar,
            match=match,
            status_title=texts.STATE_TITLES.get(state) if state is not ApplicationState.NONE else None,
            status_lines=status_lines,
            buttons=buttons,
        )

    async def show(link: Link, token: str) -> Response:
        if link.action is Action.VIEW_OFFER:
            return await personal_offer(link)
        offer, similar = await offer_with_similar(link.target_id)
        view = await desk.view(link.candidate_id, link.target_id)
        refusal = _foreseen_refusal(link.action, view, offer)
        if refusal is not None or view.state in texts.DONE_STATES[link.action]:
            return result(link, Outcome(view, changed=False, refusal=refusal), offer, similar)
        assert offer is not None  # no offer is a refusal
        return form(link, token, offer)

    async def act(link: Link, token: str, request: Request) -> Response:
        if link.action is Action.VIEW_OFFER:
            return message(
                405,
                "Rien à confirmer",
                "Cette page se consulte : ouvrez le lien reçu pour voir l'offre.",
            )
        try:
            fields = await read_form(request)
        except BodyTooLarge:
            return message(
                413,
                "Formulaire trop long",
                "Le formulaire envoyé est trop long : raccourcissez votre message.",
            )
        answer = check(link.action, fields)
        candidate, offer_id = link.candidate_id, link.target_id
        if answer.errors:
            offer = await find_offer(search, offer_id)
            if offer is None:
                title, text = texts.REFUSALS[Refusal.UNKNOWN_OFFER]
                return message(404, title, text)
            return form(link, token, offer, answer)
        outcome = await _command(desk, link.action, candidate, offer_id, answer)
        log.info(
            "pages.confirmed",
            action=str(link.action),
            changed=outcome.changed,
            refusal=None if outcome.refusal is None else str(outcome.refusal),
        )
        offer, similar = await offer_with_similar(offer_id)
        return result(link, outcome, offer, similar)

    @router.get("/statique/pages.css")
    async def stylesheet() -> Response:
        return Response(
            STYLESHEET,
            media_type="text/css; charset=utf-8",
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    @router.get("/offres/{offer_id}", response_class=HTMLResponse)
    async def public_offer(offer_id: str) -> Response:
        async def work() -> Response:
            offer, similar = (
                (None, []) if not _OFFER_ID.match(offer_id) else await offer_with_similar(offer_id)
            )
            if offer is None:
                title, text = texts.REFUSALS[Refusal.UNKNOWN_OFFER]
                return message(404, title, text, personal=False)
            return page(
                "offer.html",
                personal=False,
                title=offer.title,
                offer=offer,
                similar=similar,
                match=None,
                status_title=None,
                status_lines=[],
                buttons={},
            )

        return await guarded("offer", work)

    @router.get("/l/{token}", response_class=HTMLResponse)
    async def open_link(token: str, request: Request) -> Response:
        link = checked(request, token)
        if not isinstance(link, Link):
            return link
        return await guarded(str(link.action), lambda: show(link, token))

    @router.post("/l/{token}", response_class=HTMLResponse)
    async def confirm_link(token: str, request: Request) -> Response:
        link = checked(request, token)
        if not isinstance(link, Link):
            return link
        return await guarded(str(link.action), lambda: act(link, token, request))

    return router


async def _command(
    desk: ApplicationDesk, action: Action, candidate: str, offer_id: str, answer: Answer
) -> Outcome:
    """The desk's command of a confirmed action."""
    if action is Action.INTERESTED:
        return await desk.submit(
            candidate,
            offer_id,
            message=answer.message,
            share_email=answer.share_email,
            share_phone=answer.share_phone,
        )
    if action is Action.NOT_FOR_ME:
        return await desk.decline_match(candidate, offer_id, answer.match_reason)
    if action is Action.WITHDRAW:
        return await desk.withdraw(candidate, offer_id)
    reason = answer.decline_reason if action is Action.DECLINE else None
    return await desk.answer(candidate, offer_id, EmployerAnswer(_ANSWERS[action], reason))


def _foreseen_refusal(action: Action, view: ApplicationView, offer: OfferPage | None) -> Refusal | None:
    """What the desk would refuse, seen before showing a form (the POST's answer decides anyway)."""
    if offer is None:
        return Refusal.UNKNOWN_OFFER
    if action in texts.DONE_STATES and view.state in texts.DONE_STATES[action]:
        return None
    if action is Action.INTERESTED and not (offer.open and offer.applicable):
        return Refusal.OFFER_CLOSED
    if action in _ON_AN_APPLICATION and view.state in _NO_APPLICATION:
        return Refusal.NOT_SUBMITTED
    if action in _ON_AN_APPLICATION and view.state in ENDED:
        return Refusal.ENDED
    return None


def _state_title(action: Action, view: ApplicationView) -> str:
    if action is Action.WITHDRAW and view.state is ApplicationState.WITHDRAWN:
        return "Votre candidature est retirée"
    return texts.STATE_TITLES.get(view.state, "C'est noté")


def _state_lines(view: ApplicationView, *, employer: bool) -> list[str]:
    """What the state means to the candidate or to the employer, in French."""
    lines: list[str] = []
    said = texts.EMPLOYER_STATES if employer else texts.CANDIDATE_STATES
    if view.state in said:
        lines.append(said[view.state])
    if view.state is ApplicationState.DECLINED and view.decline_reason is not None:
        lines.append(f"Raison indiquée : {texts.APPLICATION_DECLINE_REASONS[view.decline_reason].lower()}.")
    if view.state is ApplicationState.WITHDRAWN and view.withdrawal_reason is not None:
        lines.append(texts.WITHDRAWAL_REASONS[view.withdrawal_reason])
    if view.state is ApplicationState.MATCH_DECLINED and view.match_decline_reason is not None:
        following = texts.MATCH_DECLINE_NEXT.get(view.match_decline_reason)
        if following is not None:
            lines.append(following)
    return lines
