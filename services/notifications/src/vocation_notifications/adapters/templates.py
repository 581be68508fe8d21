"""French emails and SMS from Jinja2 templates (HTML autoescaped), with links and the unsubscribe token."""

from __future__ import annotations

from datetime import date
from typing import Any

import jinja2
from vocation_shared.contracts.vocabulary import Channel, NotificationPurpose
from vocation_shared.french import long_date, short_date
from vocation_shared.reference import communes, rome_v4

from vocation_notifications.core.model import RecipientKind
from vocation_notifications.core.sms import fit, size_of
from vocation_notifications.core.tokens import sign_unsubscribe
from vocation_notifications.ports import RenderedEmail

_KINDS = {
    "vacancy": "Offre d'emploi",
    "apprenticeship": "Contrat d'apprentissage",
    "immersion": "Immersion professionnelle",
    "training": "Formation",
}
_OFFER_PATHS = {
    "vacancy": "offres",
    "apprenticeship": "offres",
    "immersion": "immersions",
    "training": "formations",
}
_REFUSALS = {
    "slot_full": "toutes les places sont déjà prises",
    "slot_closed": "cette immersion n'accepte plus de demandes",
    "slot_past": "les dates sont passées",
    "slot_unknown": "cette immersion n'existe plus",
    "dates_outside_slot": "les dates demandées sont en dehors de la période proposée",
    "overlapping_booking": "vous avez déjà une immersion à ces dates",
    "refused_by_host": "l'établissement ne peut pas vous accueillir à ces dates",
}


def distance_label(km: float) -> str:
    """E.g. « 12 km », « moins d'1 km »."""
    if km < 1:
        return "moins d'1 km"
    return f"{round(km):d} km"


def commune_name(insee: str | None) -> str:
    """The commune's name, or an empty string if unknown."""
    if not insee:
        return ""
    commune = communes().get(insee)
    return commune.name if commune is not None else ""


def metier_label(code: str | None) -> str:
    """The ROME 4 métier's label, or the code if unknown."""
    if not code:
        return ""
    metier = rome_v4().get(code)
    return metier.label if metier is not None else code


def _sms_reason(reasons: list[str]) -> str:
    """The reason an SMS shows: the first one that is not the distance (already shown), capitalised."""
    chosen = next((r for r in reasons if " km" not in r), reasons[0] if reasons else "")
    chosen = chosen.strip().rstrip(" .")
    return chosen[:1].upper() + chosen[1:]


class Renderer:
    """Renders every purpose for email and SMS, in French (the `Templates` port)."""

    def __init__(
        self, *, site_base_url: str, public_base_url: str, signing_secret: str, stop_number: str
    ) -> None:
        loader = jinja2.PackageLoader("vocation_notifications", "templates")
        self._html = jinja2.Environment(
            loader=loader,
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            auto_reload=False,
        )
        # Plain text and SMS only, never HTML: escaping would print "&amp;" to the reader.
        self._text = jinja2.Environment(
            loader=loader,
            autoescape=False,  # noqa: S701
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            auto_reload=False,
        )
        self._site = site_base_url.rstrip("/")
        self._public = public_base_url.rstrip("/")
        self._secret = signing_secret
        self._stop_number = stop_number

    def unsubscribe_url(self, candidate_id: str) -> str:
        """The signed unsubscribe link for a candidate's emails."""
        token = sign_unsubscribe(self._secret, candidate_id, Channel.EMAIL)
        return f"{self._public}/desinscription?token={token}"

    def offer_url(self, kind: str, offer_id: str) -> str:
        """The offer's page on the platform."""
        return f"{self._site}/{_OFFER_PATHS.get(kind, 'offres')}/{offer_id}"

    def context(self, purpose: NotificationPurpose, payload: dict[str, Any]) -> dict[str, Any]:
        """Template variables: the payload plus labels and links in French."""
        ctx: dict[str, Any] = {"site_url": self._site, "search_url": f"{self._site}/immersions"}
        if purpose is NotificationPurpose.DIGEST:
            items = [self._match_context(item) for item in payload.get("items", [])]
            ctx.update(count=int(payload.get("count", len(items))), items=items)
            ctx["date_label"] = long_date(date.fromisoformat(str(payload["date"])), weekday=True)
            ctx["offer_url"] = f"{self._site}/mes-offres"
            return ctx
        if purpose in (NotificationPurpose.MATCH, NotificationPurpose.URGENT_SHIFT):
            ctx.update(self._match_context(payload))
            return ctx
        slot = payload.get("slot") or {}
        start = date.fromisoformat(str(payload["start_date"]))
        end = date.fromisoformat(str(payload["end_date"]))
        places_left = slot.get("places_left", payload.get("places_left"))
        ctx.update(
            request_id=payload.get("request_id", ""),
            slot_title=slot.get("title") or "Immersion professionnelle",
            establishment_name=slot.get("establishment_name") or "",
            address=slot.get("address") or "",
            commune_name=commune_name(slot.get("commune_insee")),
            tutor_name=slot.get("tutor_name") or "",
            start_label=long_date(start, weekday=True),
            end_label=long_date(end, weekday=True),
            start_short=short_date(start),
            end_short=short_date(end),
            places_left_label=str(places_left) if places_left is not None else "non communiqué",
            offer_url=self.offer_url("immersion", str(payload.get("slot_id", ""))),
            reason_label=_REFUSALS.get(str(payload.get("reason", "")), "votre demande n'a pas pu aboutir"),
            message=payload.get("message") or "",
        )
        return ctx

    def _match_context(self, payload: dict[str, Any]) -> dict[str, Any]:
        kind = str(payload.get("offer_kind", "vacancy"))
        reasons = [str(r) for r in payload.get("reasons", [])]
        return {
            "offer_title": payload.get("offer_title", ""),
            "offer_id": payload.get("offer_id", ""),
            "kind_label": _KINDS.get(kind, "Offre"),
            "establishment_name": payload.get("establishment_name") or "",
            "commune_name": commune_name(payload.get("commune_insee")) or "près de chez vous",
            "distance_label": distance_label(float(payload.get("distance_km", 0))),
            "metier_label": metier_label(payload.get("rome_code")),
            "close_metier": bool(payload.get("close_metier")),
            "reasons": reasons,
            "first_reason": _sms_reason(reasons),
            "offer_url": self.offer_url(kind, str(payload.get("offer_id", ""))),
        }

    def email(
        self,
        purpose: NotificationPurpose,
        payload: dict[str, Any],
        *,
        recipient_id: str,
        recipient_kind: RecipientKind,
        first_name: str | None = None,
        guest_first_name: str | None = None,
    ) -> RenderedEmail:
        """The email of `purpose`; candidates get the unsubscribe link, hosts (professional) do not.

        `first_name`: the candidate is greeted by it (« Bonjour Camille, »), else « Bonjour, ».
        `guest_first_name`: in a host's notice, who booked (« Camille a réservé… »).
        """
        ctx = self.context(purpose, payload)
        ctx["first_name"] = first_name
        ctx["guest_first_name"] = guest_first_name
        unsubscribe = (
            self.unsubscribe_url(recipient_id) if recipient_kind is RecipientKind.CANDIDATE else None
        )
        ctx["unsubscribe_url"] = unsubscribe
        name = f"email/{purpose}"
        subject = " ".join(self._text.get_template(f"{name}.subject.txt").render(ctx).split())
        text = self._text.get_template(f"{name}.txt").render(ctx).strip() + "\n"
        html = self._html.get_template(f"{name}.html").render(ctx)
        return RenderedEmail(subject, text, html, unsubscribe)

    def sms(self, purpose: NotificationPurpose, payload: dict[str, Any]) -> tuple[str, bool]:
        """The SMS of `purpose` with its link and STOP mention, and whether it needs UCS-2."""
        ctx = self.context(purpose, payload)
        body = " ".join(self._text.get_template(f"sms/{purpose}.txt").render(ctx).split())
        tail = f"{ctx['offer_url']} STOP au {self._stop_number}"
        text = fit(body, tail)
        return text, size_of(text).encoding == "ucs2"
