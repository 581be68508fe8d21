"""Turning `contacts` and `outbox` records into domain values (shared by the repositories)."""

from __future__ import annotations

from typing import Any

import asyncpg
from vocation_shared.contracts.vocabulary import Channel, DigestMode, NotificationPurpose, SuppressionReason

from vocation_notifications.adapters.contact_cipher import ContactCipher, ContactKeyError
from vocation_notifications.core.applications import shared_contact
from vocation_notifications.core.model import Contact, NotificationRef, OutboxRow, RecipientKind

SEALED = ("email", "phone", "first_name")
"""The personal columns of `contacts`, sealed at rest when keys are configured."""
_VACANCY_FIELDS = ("title", "establishment_name", "commune_insee", "application_url")
_SLOT_FIELDS = ("title", "establishment_name", "commune_insee", "tutor_name", "rome_code", "address")


def contact_of(record: asyncpg.Record, cipher: ContactCipher, candidate_id: str, prefix: str = "") -> Contact:
    """A `contacts` row (its columns under `prefix` in a join) as a contact, its fields opened."""
    return Contact(
        candidate_id=candidate_id,
        email=cipher.open(record[prefix + "email"], candidate_id, "email"),
        phone=cipher.open(record[prefix + "phone"], candidate_id, "phone"),
        channels=frozenset(Channel(c) for c in record[prefix + "channels"]),
        digest=DigestMode(record[prefix + "digest"]),
        urgent_shift_sms=record[prefix + "urgent_shift_sms"],
        language=record[prefix + "language"],
        version=record[prefix + "version"],
        first_name=cipher.open(record[prefix + "first_name"], candidate_id, "first_name"),
    )


def slot_snapshot(record: asyncpg.Record, prefix: str, places_left: int | None) -> dict[str, Any]:
    """What booking messages show of a slot, from its columns (under `prefix` in a join)."""
    return {**{k: record[prefix + k] for k in _SLOT_FIELDS}, "places_left": places_left}


def _guest(record: asyncpg.Record, cipher: ContactCipher, candidate_id: str) -> Contact:
    """The candidate a professional's message is about: first name, email, phone (opened)."""
    return Contact(
        candidate_id=candidate_id,
        email=cipher.open(record["guest_email"], candidate_id, "email"),
        phone=cipher.open(record["guest_phone"], candidate_id, "phone"),
        channels=frozenset(),
        first_name=cipher.open(record["guest_first_name"], candidate_id, "first_name"),
    )


def ref_of(record: asyncpg.Record, why: SuppressionReason | None = None) -> NotificationRef:
    """An outbox record's `id, recipient_id, channel, purpose, about_id` as a reference."""
    return NotificationRef(
        id=str(record["id"]),
        recipient_id=record["recipient_id"],
        channel=Channel(record["channel"]),
        purpose=NotificationPurpose(record["purpose"]),
        about_id=record["about_id"],
        why=why,
    )


def row_of(record: asyncpg.Record, cipher: ContactCipher) -> OutboxRow:
    """A due outbox record (joined with its contact, host and slot) as the worker sees it."""
    contact: Contact | None = None
    guest: Contact | None = None
    guest_first_name: str | None = None
    unreadable: str | None = None
    try:
        if record["c_version"] is not None:
            contact = contact_of(record, cipher, record["recipient_id"], prefix="c_")
        if record["guest_first_name"] is not None or record["guest_email"] is not None:
            guest_id = str(record["payload"]["candidate_id"])
            guest = _guest(record, cipher, guest_id)
            guest_first_name = guest.first_name
    except ContactKeyError as exc:  # this row's problem only: the worker defers it, the others go on
        contact, guest, guest_first_name, unreadable = None, None, None, str(exc)
    payload: dict[str, Any] = record["payload"]
    if record["s_title"] is not None:
        # Planned before its slot was read (another topic): the slot is known now, it is shown.
        payload = {**payload, "slot": slot_snapshot(record, "s_", payload.get("places_left"))}
    if record["v_title"] is not None:
        payload = {**payload, "vacancy": {k: record["v_" + k] for k in _VACANCY_FIELDS}}
    if record["r_email"] is not None:
        payload = {**payload, "recruiter": {k: record["r_" + k] for k in ("name", "email", "phone")}}
    if guest is not None:
        payload = {**payload, "shared_contact": shared_contact(payload, guest)}
    return OutboxRow(
        id=str(record["id"]),
        recipient_id=record["recipient_id"],
        recipient_kind=RecipientKind(record["recipient_kind"]),
        channel=Channel(record["channel"]),
        purpose=NotificationPurpose(record["purpose"]),
        about_id=record["about_id"],
        payload=payload,
        critical=record["critical"],
        attempts=record["attempts"],
        created_at=record["created_at"],
        contact=contact,
        host_address=record["tutor_email"],
        attempt_id=str(record["attempt_id"]) if record["attempt_id"] is not None else None,
        guest_first_name=guest_first_name,
        unreadable=unreadable,
    )
