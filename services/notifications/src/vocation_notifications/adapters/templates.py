"""French emails and SMS from Jinja2 templates (HTML autoescaped), with links and the unsubscribe token."""

from __future__ import annotations

from datetime import date
from typing import Any

import jinja2
from vocation_shared.contracts.vocabulary import Channel, NotificationPurpose
from vocation_shared.french import long_date, short_date
from vocation_shared.links import DEVELOPMENT_LINK_KEY, Action, LinkSigner
from vocation_shared.reference import DIPLOMAS, Diploma, communes, rome_v4

from vocation_notifications.core.model import RecipientKind
from vocation_notifications.core.sms import fit, size_of
from vocation_notifications.core.tokens import sign_unsubscribe_link
from vocation_notifications.ports import RenderedEmail

_KINDS = {
    "vacancy": "Offre d'emploi",
    "apprenticeship": "Contrat d'apprentissage",
    "immersion": "Immersion professionnelle",
    "training": "Formation",
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


_DECLINE_REASONS = {
    "profile_mismatch": "votre profil ne correspond pas tout à fait à ce poste",
    "missing_diploma": "le diplôme demandé pour ce poste vous manque",
    "position_filled": "le poste a déjà été pourvu",
    "availability": "vos disponibilités ne correspondent pas à celles du poste",
    "other": "l'établissement ne peut pas donner suite pour le moment",
}
_CLOSED_REASONS = {
    "unanswered": "l'établissement n'a pas répondu à votre candidature",
    "offer_closed": "l'offre a été retirée par l'établissement",
    "offer_filled": "tous les postes de cette offre ont été pourvus",
}
_RENEWED_ACTIONS = {
    "view_offer": "voir l'offre",
    "interested": "dire que l'offre vous intéresse",
    "not_for_me": "dire que l'offre n'est pas pour vous",
    "withdraw": "retirer votre candidature",
    "propose_exchange": "proposer un échange à la personne candidate",
    "decline": "ne pas donner suite à la candidature",
    "hired": "indiquer que la personne a été embauchée",
}
_FOOTER_NOTES = {
    RecipientKind.CANDIDATE: "",
    RecipientKind.ESTABLISHMENT: "Message envoyé par la plateforme Vocation pour le suivi des immersions de votre établissement.",
    RecipientKind.RECRUITER: "Message envoyé par la plateforme Vocation pour les candidatures à vos offres.",
}
"""What a professional's email says instead of the unsubscribe link (why they receive it)."""
APPLICATION_PURPOSES = frozenset(
    {
        NotificationPurpose.APPLICATION_RECEIVED,
        NotificationPurpose.APPLICATION_REMINDER,
        NotificationPurpose.APPLICATION_ANSWERED,
        NotificationPurpose.APPLICATION_CLOSED,
        NotificationPurpose.LINK_RENEWED,
    }
)


def diploma_label(code: str) -> str:
    """The diploma's French label, or the code if unknown."""
    try:
        return DIPLOMAS[Diploma(code)].label
    except (ValueError, KeyError):
        return code


def months_label(months: int) -> str:
    """E.g. « 8 mois », « 2 ans », « 1 an et 3 mois »."""
    years, rest = divmod(months, 12)
    if not years:
        return f"{rest} mois"
    label = f"{years} an{'s' if years > 1 else ''}"
    return f"{label} et {rest} mois" if rest else label


def _sms_reason(reasons: list[str]) -> str:
    """The reason an SMS shows: the first one that is not the distance (already shown), capitalised."""
    chosen = next((r for r in reasons if " km" not in r), reasons[0] if reasons else "")
    chosen = chosen.strip().rstrip(" .")
    return chosen[:1].upper() + chosen[1:]


class Renderer:
    """Renders every purpose for email and SMS, in French (the `Templates` port)."""

    def __init__(
        self,
        *,
        site_base_url: str,
        public_base_url: str,
        stop_number: str,
        link_signer: LinkSigner | None = None,
    ) -> None:
        """`link_signer` None: the development key's (tests); the service passes the deployment's."""
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
        self._stop_number = stop_number
        self._links = link_signer or LinkSigner([DEVELOPMENT_LINK_KEY])

    def unsubscribe_url(self, candidate_id: str) -> str:
        """The signed unsubscribe link for a candidate's emails."""
        token = sign_unsubscribe_link(self._links, candidate_id, Channel.EMAIL)
        return f"{self._public}/desinscription?token={token}"

    def link(self, action: Action, candidate_id: str, offer_id: str) -> str:
        """A signed personal link (`{site}/l/{token}`), valid 30 days from now (signed when sent)."""
        return f"{self._site}/l/{self._links.sign(action, candidate_id, offer_id)}"

    def offer_url(self, offer_id: str) -> str:
        """The offer's public page (the catalogue's `/offres/{id}`, for any kind of offer)."""
        return f"{self._site}/offres/{offer_id}"

    def context(
        self, purpose: NotificationPurpose, payload: dict[str, Any], recipient_id: str = ""
    ) -> dict[str, Any]:
        """Template variables: the payload plus labels and links in French.

        `recipient_id`: the candidate a match's personal links are signed for.
        """
        ctx: dict[str, Any] = {"site_url": self._site, "search_url": f"{self._site}/immersions"}
        if purpose in APPLICATION_PURPOSES:
            ctx.update(self._application_context(purpose, payload))
            return ctx
        if purpose is NotificationPurpose.DIGEST:
            items = [self._match_context(item, recipient_id) for item in payload.get("items", [])]
            ctx.update(count=int(payload.get("count", len(items))), items=items)
            ctx["date_label"] = long_date(date.fromisoformat(str(payload["date"])), weekday=True)
            # The SMS's one link: the first (best) offer's personal page; the email links each.
            ctx["offer_url"] = items[0]["personal_url"] if items else self._site
            return ctx
        if purpose in (NotificationPurpose.MATCH, NotificationPurpose.URGENT_SHIFT):
            ctx.update(self._match_context(payload, recipient_id))
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
            offer_url=self.offer_url(str(payload.get("slot_id", ""))),
            reason_label=_REFUSALS.get(str(payload.get("reason", "")), "votre demande n'a pas pu aboutir"),
            message=payload.get("message") or "",
        )
        return ctx

    def _match_context(self, payload: dict[str, Any], candidate_id: str) -> dict[str, Any]:
        """A match's words and its three personal links (« Voir l'offre » goes to the partner's own
        page when the vacancy has one; the SMS carries the personal offer page's)."""
        kind = str(payload.get("offer_kind", "vacancy"))
        reasons = [str(r) for r in payload.get("reasons", [])]
        offer_id = str(payload.get("offer_id", ""))
        personal = self.link(Action.VIEW_OFFER, candidate_id, offer_id)
        partner_page = (payload.get("vacancy") or {}).get("application_url")
        return {
            "personal_url": personal,
            "view_url": partner_page or personal,
            "interested_url": self.link(Action.INTERESTED, candidate_id, offer_id),
            "not_for_me_url": self.link(Action.NOT_FOR_ME, candidate_id, offer_id),
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
            "offer_url": personal,
        }

    def _application_context(self, purpose: NotificationPurpose, payload: dict[str, Any]) -> dict[str, Any]:
        """An application's words: the vacancy, the candidate's summary, the answer, the links."""
        candidate_id = str(payload.get("candidate_id", ""))
        offer_id = str(payload.get("offer_id", ""))
        vacancy = payload.get("vacancy") or {}
        recruiter = payload.get("recruiter") or {}
        summary = payload.get("summary") or {}
        shared = payload.get("shared_contact") or {}
        available = summary.get("available_from")
        distance = summary.get("distance_km")
        action = str(payload.get("action", ""))
        reason = str(payload.get("reason") or "")
        ctx: dict[str, Any] = {
            "offer_title": vacancy.get("title") or "l'offre",
            "establishment_name": vacancy.get("establishment_name") or "",
            "commune_name": commune_name(vacancy.get("commune_insee")),
            "diplomas": [diploma_label(str(d)) for d in summary.get("diplomas", [])],
            "experience": [
                f"{metier_label(str(e['rome_code']))} : {months_label(int(e['months']))}"
                for e in summary.get("experience", [])
            ],
            "available_label": long_date(date.fromisoformat(available)) if available else "",
            "distance_label": distance_label(float(distance)) if distance is not None else "",
            "reasons": [str(r) for r in summary.get("reasons", [])],
            "message": payload.get("message") or "",
            "shared_email": shared.get("email", ""),
            "shared_phone": shared.get("phone", ""),
            "recruiter_name": recruiter.get("name") or "",
            "recruiter_email": recruiter.get("email") or "",
            "recruiter_phone": recruiter.get("phone") or "",
            "answer": str(payload.get("answer", "")),
            "reason": reason,
            "reason_label": _DECLINE_REASONS.get(reason) or _CLOSED_REASONS.get(reason, ""),
            "action_label": _RENEWED_ACTIONS.get(action, "suivre ce lien"),
            "offer_url": self.link(Action.VIEW_OFFER, candidate_id, offer_id),
        }
        if purpose in (NotificationPurpose.APPLICATION_RECEIVED, NotificationPurpose.APPLICATION_REMINDER):
            submitted = payload.get("submitted_at")
            ctx.update(
                submitted_label=long_date(date.fromisoformat(str(submitted)[:10])) if submitted else "",
                propose_exchange_url=self.link(Action.PROPOSE_EXCHANGE, candidate_id, offer_id),
                decline_url=self.link(Action.DECLINE, candidate_id, offer_id),
                hired_url=self.link(Action.HIRED, candidate_id, offer_id),
            )
        if purpose is NotificationPurpose.LINK_RENEWED and action in {a.value for a in Action}:
            ctx["offer_url"] = self.link(Action(action), candidate_id, offer_id)
        return ctx

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
        ctx = self.context(purpose, payload, recipient_id)
        ctx["first_name"] = first_name
        ctx["guest_first_name"] = guest_first_name
        unsubscribe = None if recipient_kind.professional else self.unsubscribe_url(recipient_id)
        ctx["unsubscribe_url"] = unsubscribe
        ctx["footer_note"] = _FOOTER_NOTES[recipient_kind]
        name = f"email/{purpose}"
        subject = " ".join(self._text.get_template(f"{name}.subject.txt").render(ctx).split())
        text = self._text.get_template(f"{name}.txt").render(ctx).strip() + "\n"
        html = self._html.get_template(f"{name}.html").render(ctx)
        return RenderedEmail(subject, text, html, unsubscribe)

    def sms(
        self, purpose: NotificationPurpose, payload: dict[str, Any], *, recipient_id: str = ""
    ) -> tuple[str, bool]:
        """The SMS of `purpose` with its one link and STOP mention, and whether it needs UCS-2."""
        ctx = self.context(purpose, payload, recipient_id)
        body = " ".join(self._text.get_template(f"sms/{purpose}.txt").render(ctx).split())
        tail = f"{ctx['offer_url']} STOP au {self._stop_number}"
        text = fit(body, tail)
        return text, size_of(text).encoding == "ucs2"
