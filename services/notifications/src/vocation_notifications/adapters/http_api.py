"""HTTP API: the unsubscribe page and one-click endpoint (RFC 8058), and the inbound SMS webhook (STOP)."""

from __future__ import annotations

import hmac
import re
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from markupsafe import escape
from pydantic import SecretStr
from vocation_shared.contracts.vocabulary import Channel, ConsentOrigin

from vocation_notifications.consent_service import ConsentService
from vocation_notifications.core.consent import is_stop_reply
from vocation_notifications.core.tokens import BadToken, verify_unsubscribe

_PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family: Arial, Helvetica, sans-serif; max-width: 560px; margin: 40px auto; padding: 0 16px;">
<h1 style="font-size: 22px;">{title}</h1>
{body}
</body></html>"""

_PHONE_FIELDS = ("from", "msisdn", "sender", "phoneNumber", "phone")
_TEXT_FIELDS = ("text", "message", "content", "body")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)


def _bad_link() -> HTMLResponse:
    return _page(
        "Lien invalide",
        "<p>Ce lien de désinscription n'est pas valide. Utilisez le lien reçu dans votre dernier e-mail.</p>",
        400,
    )


def _normalise_phone(raw: str) -> str | None:
    digits = re.sub(r"[\s.\-()]", "", raw)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.startswith("+"):
        digits = "+" + digits
    return digits if re.fullmatch(r"\+[1-9][0-9]{7,14}", digits) else None


def api_router(
    consent: ConsentService, signing_secret: SecretStr, inbound_token: SecretStr | None
) -> APIRouter:
    """The public endpoints of the service."""
    router = APIRouter()
    secret = signing_secret.get_secret_value()

    @router.get(
        "/desinscription", response_class=HTMLResponse, summary="Unsubscribe page (does not unsubscribe)"
    )
    async def unsubscribe_page(token: str = "") -> HTMLResponse:
        try:
            verify_unsubscribe(secret, token)
        except BadToken:
            return _bad_link()
        return _page(
            "Se désinscrire des e-mails de Vocation",
            "<p>Vous ne recevrez plus d'e-mails de Vocation : ni les offres qui vous correspondent, "
            "ni les confirmations d'immersion.</p>"
            f'<form method="post" action="/desinscription?token={escape(token)}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit" style="padding: 10px 16px;">Confirmer ma désinscription</button></form>',
        )

    @router.post("/desinscription", response_class=HTMLResponse, summary="Unsubscribe (one-click, RFC 8058)")
    async def unsubscribe(request: Request, token: str = "") -> HTMLResponse:
        if not token:
            form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
            token = (form.get("token") or [""])[0]
        try:
            candidate_id, channel = verify_unsubscribe(secret, token)
        except BadToken:
            return _bad_link()
        try:
            await consent.withdraw(candidate_id, channel, ConsentOrigin.EMAIL_UNSUBSCRIBE)
        except Exception:
            return _page(
                "Désinscription momentanément impossible",
                "<p>Un incident nous empêche d'enregistrer votre demande. Merci de réessayer dans quelques minutes.</p>",
                503,
            )
        what = "d'e-mails" if channel is Channel.EMAIL else "de SMS"
        return _page("Vous êtes désinscrit(e)", f"<p>Vous ne recevrez plus {what} de Vocation.</p>")

    @router.post("/sms/inbound", summary="Inbound SMS webhook: a STOP reply withdraws SMS consent")
    async def inbound_sms(request: Request) -> JSONResponse:
        if inbound_token is not None:
            given = request.headers.get("x-vocation-token", "")
            if not hmac.compare_digest(given.encode(), inbound_token.get_secret_value().encode()):
                return JSONResponse({"detail": "unauthorised"}, status_code=401)
        try:
            body: Any = await request.json()
        except ValueError:
            return JSONResponse({"detail": "a JSON object is expected"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"detail": "a JSON object is expected"}, status_code=400)
        raw_phone = next((str(body[k]) for k in _PHONE_FIELDS if body.get(k)), "")
        text = next((str(body[k]) for k in _TEXT_FIELDS if body.get(k)), "")
        phone = _normalise_phone(raw_phone)
        if phone is None:
            return JSONResponse({"detail": "the sender's number is missing or invalid"}, status_code=422)
        if not is_stop_reply(text):
            return JSONResponse({"status": "ignored"})
        try:
            await consent.stop_reply(phone)
        except Exception:
            return JSONResponse({"detail": "try again later"}, status_code=503)
        # Same answer whether the number is known or not: nothing to learn from it.
        return JSONResponse({"status": "stopped"})

    return router
