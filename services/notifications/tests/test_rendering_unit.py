"""Every purpose renders in French, for email (text and HTML, autoescaped) and SMS (one GSM-7 segment)."""

from __future__ import annotations

from typing import Any

import pytest
from vocation_notifications.adapters.templates import Renderer
from vocation_notifications.core.model import RecipientKind
from vocation_notifications.core.sms import SmsEncoding, size_of
from vocation_shared.contracts.vocabulary import NotificationPurpose

pytestmark = pytest.mark.unit

RENDERER = Renderer(
    site_base_url="https://vocation.example.fr",
    public_base_url="https://notif.vocation.example.fr",
    stop_number="38100",
)
MATCH: dict[str, Any] = {
    "offer_id": "vac-1",
    "offer_kind": "vacancy",
    "offer_title": "Aide-soignant(e) de nuit",
    "rome_code": "J1501",
    "commune_insee": "01053",
    "establishment_name": "EHPAD <Les Tilleuls>",
    "distance_km": 12.4,
    "score": 80,
    "reasons": ["à 12 km de chez vous", "logement proposé"],
    "close_metier": True,
}
BOOKING: dict[str, Any] = {
    "request_id": "r1",
    "slot_id": "s1",
    "candidate_id": "c1",
    "start_date": "2026-12-01",
    "end_date": "2026-12-03",
    "reason": "overlapping_booking",
    "message": "Déjà réservé",
    "slot": {
        "title": "Découvrir le métier d'AES",
        "establishment_name": "IME Les Pins",
        "commune_insee": "40192",
        "tutor_name": "M. Durand",
        "address": "3 allée des Pins",
        "places_left": 1,
    },
}
PAYLOADS: dict[NotificationPurpose, tuple[dict[str, Any], str, str]] = {
    NotificationPurpose.MATCH: (
        MATCH,
        "Nouvelle offre pour vous : Aide-soignant(e) de nuit à Bourg-en-Bresse",
        "logement proposé",
    ),
    NotificationPurpose.URGENT_SHIFT: (
        MATCH,
        "Remplacement urgent : Aide-soignant(e) de nuit à Bourg-en-Bresse",
        "première personne",
    ),
    NotificationPurpose.DIGEST: (
        {"count": 1, "items": [MATCH], "date": "2026-11-22"},
        "1 nouvelle offre pour vous aujourd'hui",
        "dimanche 22 novembre 2026",
    ),
    NotificationPurpose.IMMERSION_BOOKED: (
        BOOKING,
        "Votre immersion est confirmée : Découvrir le métier d'AES",
        "mardi 1er décembre 2026",
    ),
    NotificationPurpose.IMMERSION_BOOKED_HOST: (
        BOOKING,
        "Immersion réservée du mardi 1er décembre 2026 au jeudi 3 décembre 2026 : Découvrir le métier d'AES",
        "Places restantes : 1",
    ),
    NotificationPurpose.IMMERSION_REFUSED: (
        BOOKING,
        "Votre demande d'immersion n'a pas pu être acceptée",
        "vous avez déjà une immersion à ces dates",
    ),
    NotificationPurpose.IMMERSION_REMINDER: (
        BOOKING,
        "Rappel : votre immersion commence demain",
        "Vous serez accueilli(e) par M. Durand.",
    ),
}


@pytest.mark.parametrize("purpose", list(PAYLOADS))
def test_each_purpose_renders_a_french_email_with_its_essentials(purpose: NotificationPurpose) -> None:
    payload, subject, phrase = PAYLOADS[purpose]
    kind = (
        RecipientKind.ESTABLISHMENT
        if purpose is NotificationPurpose.IMMERSION_BOOKED_HOST
        else RecipientKind.CANDIDATE
    )
    email = RENDERER.email(purpose, payload, recipient_id="c1", recipient_kind=kind)
    assert email.subject == subject
    assert phrase in email.text and phrase.replace("'", "&#39;") in email.html
    assert email.html.startswith("<!DOCTYPE html>") and 'lang="fr"' in email.html
    assert "Bonjour," in email.text
    if kind is RecipientKind.CANDIDATE:
        assert email.unsubscribe_url is not None and email.unsubscribe_url in email.text
        assert "Ne plus recevoir ces e-mails" in email.html
    else:
        assert email.unsubscribe_url is None


@pytest.mark.parametrize(
    "purpose", [p for p in PAYLOADS if p is not NotificationPurpose.IMMERSION_BOOKED_HOST]
)
def test_candidate_is_greeted_by_first_name_escaped_in_html(purpose: NotificationPurpose) -> None:
    payload, _, _ = PAYLOADS[purpose]
    email = RENDERER.email(
        purpose, payload, recipient_id="c1", recipient_kind=RecipientKind.CANDIDATE, first_name="Zoé <Léa>"
    )
    assert email.text.startswith("Bonjour Zoé <Léa>,\n")
    assert "<p>Bonjour Zoé &lt;Léa&gt;,</p>" in email.html


def test_host_is_told_the_first_name_of_who_booked_when_given() -> None:
    named = RENDERER.email(
        NotificationPurpose.IMMERSION_BOOKED_HOST,
        BOOKING,
        recipient_id="e1",
        recipient_kind=RecipientKind.ESTABLISHMENT,
        guest_first_name="Camille",
    )
    anonymous = RENDERER.email(
        NotificationPurpose.IMMERSION_BOOKED_HOST,
        BOOKING,
        recipient_id="e1",
        recipient_kind=RecipientKind.ESTABLISHMENT,
    )
    assert "Camille a réservé une place" in named.text and "Camille a réservé une place" in named.html
    assert "Une personne a réservé une place" in anonymous.text


def test_html_is_autoescaped_and_text_is_not() -> None:
    email = RENDERER.email(
        NotificationPurpose.MATCH, MATCH, recipient_id="c1", recipient_kind=RecipientKind.CANDIDATE
    )
    assert "EHPAD &lt;Les Tilleuls&gt;" in email.html and "<Les Tilleuls>" not in email.html
    assert "EHPAD <Les Tilleuls>" in email.text
    assert "métier proche de celui que vous recherchez" in email.text


@pytest.mark.parametrize(
    "purpose", [p for p in PAYLOADS if p is not NotificationPurpose.IMMERSION_BOOKED_HOST]
)
def test_each_sms_fits_one_gsm7_segment_with_link_and_stop(purpose: NotificationPurpose) -> None:
    payload, _, _ = PAYLOADS[purpose]
    text, unicode = RENDERER.sms(purpose, payload)
    size = size_of(text)
    assert (size.encoding, size.segments, unicode) == (SmsEncoding.GSM7, 1, False)
    assert text.startswith("Vocation : ") and text.endswith("STOP au 38100")
    assert "https://vocation.example.fr/" in text
