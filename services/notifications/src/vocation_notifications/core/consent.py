"""Consent: a contact from its contract, and what an opt-out (STOP, unsubscribe) changes."""

from __future__ import annotations

from dataclasses import replace

from vocation_shared.contracts.payloads import CandidateContact
from vocation_shared.contracts.vocabulary import Channel

from vocation_notifications.core.model import Contact

STOP_WORDS = frozenset(
    {"STOP", "STOPSMS", "STOP SMS", "ARRET", "ARRÊT", "DESINSCRIRE", "DÉSINSCRIRE", "UNSUBSCRIBE"}
)


def contact_from(data: CandidateContact) -> Contact:
    """The domain contact of a `candidate-contacts` payload (ContactRegistered or ConsentUpdated)."""
    return Contact(
        candidate_id=data.candidate_id,
        email=str(data.email) if data.email is not None else None,
        phone=data.phone,
        channels=frozenset(data.channels),
        digest=data.digest,
        urgent_shift_sms=data.urgent_shift_sms,
        language=data.language,
        version=data.version,
        first_name=data.first_name,
    )


def without_channel(contact: Contact, channel: Channel) -> Contact | None:
    """The contact after withdrawing consent to `channel`, with the next version; None if nothing changes."""
    if channel not in contact.channels:
        return None
    return replace(
        contact,
        channels=contact.channels - {channel},
        urgent_shift_sms=False if channel is Channel.SMS else contact.urgent_shift_sms,
        version=contact.version + 1,
    )


def is_stop_reply(text: str) -> bool:
    """Whether an inbound SMS asks to stop (STOP, ARRET…, case and punctuation ignored)."""
    cleaned = " ".join(text.upper().replace(".", " ").replace("!", " ").split())
    return cleaned in STOP_WORDS or cleaned.split(" ", 1)[0] in {"STOP", "ARRET", "ARRÊT"}


def should_apply(stored_version: int | None, incoming_version: int) -> bool:
    """Whether an incoming full contact state replaces the stored one (newer or equal version wins)."""
    return stored_version is None or incoming_version >= stored_version
