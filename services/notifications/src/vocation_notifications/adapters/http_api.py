"""HTTP API: the unsubscribe page and one-click endpoint (RFC 8058), the renewal of an expired personal
link (`/liens/nouveau`), and the inbound SMS webhook (STOP)."""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from markupsafe import escape
from pydantic import SecretStr
from starlette.responses import Response
from vocation_shared.contracts.vocabulary import Channel, ConsentOrigin
from vocation_shared.links import DEVELOPMENT_LINK_KEY, LinkSigner, Verdict
from vocation_shared.logs import get_logger

from vocation_notifications.adapters.public_http import page, problem, wants_html
from vocation_notifications.core.consent import is_stop_reply
from vocation_notifications.core.throttle import FailureThrottle, retry_after
from vocation_notifications.core.tokens import BadToken, read_unsubscribe
from vocation_notifications.ports import PublicCommands

log = get_logger(__name__)

PUBLIC_PATHS = ("/desinscription", "/liens/nouveau", "/sms/inbound")
"""The endpoints anyone on the Internet reaches: bounded bodies, throttled failures."""

_PHONE_FIELDS = ("from", "msisdn", "sender", "phoneNumber", "phone")
_TEXT_FIELDS = ("text", "message", "content", "body")


def _bad_link(html: bool) -> Response:
    return problem(
        400,
        "invalid-link",
        "Lien invalide",
        "Ce lien de désinscription n'est pas valide. Utilisez le lien reçu dans votre dernier e-mail.",
        html=html,
    )


def _slow_down(wait_s: float, html: bool) -> Response:
    seconds = retry_after(wait_s)
    return problem(
        429,
        "too-many-requests",
        "Trop de tentatives",
        f"Trop de liens ou de jetons invalides depuis votre adresse. Réessayez dans {seconds} secondes.",
        html=html,
        headers={"Retry-After": seconds},
    )


def _client_address(request: Request) -> str:
    """The socket's peer, or the client a trusted proxy names (uvicorn applies `TRUSTED_PROXIES`)."""
    return request.client.host if request.client is not None else "unknown"


def _normalise_phone(raw: str) -> str | None:
    digits = re.sub(r"[\s.\-()]", "", raw)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.startswith("+"):
        digits = "+" + digits
    return digits if re.fullmatch(r"\+[1-9][0-9]{7,14}", digits) else None


def _inbound_token(request: Request) -> str:
    """The token an inbound webhook carries: `X-Vocation-Token`, or `Authorization: Bearer` (Brevo's webhook auth)."""
    given = request.headers.get("x-vocation-token")
    if given is not None:
        return given
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


RENEWAL_PAGE = (
    "<p>Si ce lien était bien le vôtre et qu'il a expiré, un nouveau lien vous est envoyé par e-mail"
    " dans quelques minutes (un seul par jour pour le même lien).</p>"
    "<p>Vous ne recevez rien ? Le lien venait peut-être d'un autre message, ou il fonctionne encore :"
    " ouvrez le message le plus récent que Vocation vous a envoyé.</p>"
)
"""The answer to every renewal request: it says nothing of the token (genuine, forged, valid)."""


def api_router(
    consent: PublicCommands,
    signing_secrets: Sequence[str],
    inbound_token: SecretStr | None,
    throttle: FailureThrottle,
    monotonic: Callable[[], float] = time.monotonic,
    *,
    links: LinkSigner | None = None,
) -> APIRouter:
    """The public endpoints of the service.

    A client address that sent too many invalid links or inbound tokens gets 429 (with
    `Retry-After`) until its bucket refills; valid requests are never charged. `links`: the
    deployment's link signer (None: the development key's, for tests).
    """
    signer = links or LinkSigner([DEVELOPMENT_LINK_KEY])
    router = APIRouter()
    secrets = list(signing_secrets)

    def _throttled(request: Request, html: bool) -> Response | None:
        wait = throttle.wait(_client_address(request), monotonic())
        return _slow_down(wait, html) if wait > 0 else None

    def _failed(request: Request) -> None:
        throttle.failed(_client_address(request), monotonic())

    @router.get(
        "/desinscription", response_class=HTMLResponse, summary="Unsubscribe page (does not unsubscribe)"
    )
    async def unsubscribe_page(request: Request, token: str = "") -> Response:
        html = True  # the page a candidate's browser shows, whoever asks
        if (refused := _throttled(request, html)) is not None:
            return refused
        try:
            read_unsubscribe(signer, secrets, token)
        except BadToken:
            _failed(request)
            return _bad_link(html)
        return page(
            "Se désinscrire des e-mails de Vocation",
            "<p>Vous ne recevrez plus d'e-mails de Vocation : ni les offres qui vous correspondent, "
            "ni les confirmations d'immersion.</p>"
            f'<form method="post" action="/desinscription?token={escape(token)}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit" style="padding: 10px 16px;">Confirmer ma désinscription</button></form>',
        )

    @router.post("/desinscription", response_class=HTMLResponse, summary="Unsubscribe (one-click, RFC 8058)")
    async def unsubscribe(request: Request, token: str = "") -> Response:
        html = wants_html(request.headers.get("accept"))
        if (refused := _throttled(request, html)) is not None:
            return refused
        if not token:
            form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
            token = (form.get("token") or [""])[0]
        try:
            candidate_id, channel = read_unsubscribe(signer, secrets, token)
        except BadToken:
            _failed(request)
            return _bad_link(html)
        try:
            await consent.withdraw(candidate_id, channel, ConsentOrigin.EMAIL_UNSUBSCRIBE)
        except Exception:
            log.exception("unsubscribe.unavailable", recipient_id=candidate_id, channel=str(channel))
            return problem(
                503,
                "unavailable",
                "Désinscription momentanément impossible",
                "Un incident nous empêche d'enregistrer votre demande. Merci de réessayer dans quelques minutes.",
                html=html,
                headers={"Retry-After": "60"},
            )
        what = "d'e-mails" if channel is Channel.EMAIL else "de SMS"
        return page("Vous êtes désinscrit(e)", f"<p>Vous ne recevrez plus {what} de Vocation.</p>")

    @router.post(
        "/liens/nouveau", response_class=HTMLResponse, summary="Send a fresh link for an expired one"
    )
    async def renew_link(request: Request) -> Response:
        """Form field `token` (the 410 page of an expired link posts it). A genuine expired token gets a
        fresh link by email, to the candidate or, for an employer's answer, to the recruiting contact;
        the page is the same whatever the token was. A forged token counts against the throttle."""
        if (refused := _throttled(request, True)) is not None:
            return refused
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        token = (form.get("token") or [""])[0].strip()
        checked = signer.verify(token)
        if checked.verdict is Verdict.FORGED:
            _failed(request)
        elif checked.verdict is Verdict.EXPIRED and checked.link is not None:
            try:
                await consent.renew_link(checked.link)
            except Exception:
                log.exception("link_renewal.unavailable", action=str(checked.link.action))
                return problem(
                    503,
                    "unavailable",
                    "Envoi momentanément impossible",
                    "Un incident nous empêche d'envoyer un nouveau lien. Merci de réessayer dans quelques minutes.",
                    html=True,
                    headers={"Retry-After": "60"},
                )
        return page("Demande de nouveau lien", RENEWAL_PAGE)

    @router.post("/sms/inbound", summary="Inbound SMS webhook: a STOP reply withdraws SMS consent")
    async def inbound_sms(request: Request) -> Response:
        if (refused := _throttled(request, False)) is not None:
            return refused
        if inbound_token is not None:
            given = _inbound_token(request)
            if not hmac.compare_digest(given.encode(), inbound_token.get_secret_value().encode()):
                _failed(request)
                return problem(
                    401,
                    "unauthorized",
                    "Jeton manquant ou invalide",
                    "Envoyez le jeton du webhook dans `X-Vocation-Token` ou `Authorization: Bearer`.",
                    headers={"WWW-Authenticate": 'Bearer realm="vocation-sms"'},
                )
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return problem(400, "not-json", "Corps invalide", "Un objet JSON est attendu.")
        raw_phone = next((str(body[k]) for k in _PHONE_FIELDS if body.get(k)), "")
        text = next((str(body[k]) for k in _TEXT_FIELDS if body.get(k)), "")
        phone = _normalise_phone(raw_phone)
        if phone is None:
            return problem(
                422, "invalid-phone", "Numéro invalide", "Le numéro de l'expéditeur est absent ou invalide."
            )
        if not is_stop_reply(text):
            return JSONResponse({"status": "ignored"})
        try:
            await consent.stop_reply(phone)
        except Exception:
            log.exception("sms_stop.unavailable")
            return problem(
                503,
                "unavailable",
                "Service momentanément indisponible",
                "La demande n'a pas pu être enregistrée ; renvoyez-la plus tard.",
                headers={"Retry-After": "30"},
            )
        # Same answer whether the number is known or not: nothing to learn from it.
        return JSONResponse({"status": "stopped"})

    return router
