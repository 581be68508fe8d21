"""What to put in the outbox for each fact: matches, bookings, refusals (pure, decided from the event)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from typing import Any

from vocation_shared.contracts.payloads import ImmersionBooked, ImmersionRefused, MatchFound
from vocation_shared.contracts.vocabulary import Channel, DigestMode, NotificationPurpose, SuppressionReason

from vocation_notifications.core.model import Contact, PlannedNotification, RecipientKind
from vocation_notifications.core.policy import Policy
from vocation_notifications.core.schedule import next_digest_at, reminder_at
from vocation_notifications.core.windows import local_datetime

ALL_CHANNELS = (Channel.EMAIL, Channel.SMS)


def candidate_channels(contact: Contact | None) -> tuple[list[Channel], bool]:
    """Channels to plan for a candidate, and whether none is consented.

    Unknown contact: both channels (consent is decided at send time, once the contact arrives).
    """
    if contact is None:
        return list(ALL_CHANNELS), False
    consented = [c for c in ALL_CHANNELS if contact.consents_to(c)]
    return consented, not consented


def for_candidate(
    contact: Contact | None,
    candidate_id: str,
    purpose: NotificationPurpose,
    about_id: str,
    not_before: datetime,
    payload: dict[str, Any],
    *,
    related_id: str,
    held: bool = False,
    critical: bool = False,
) -> list[PlannedNotification]:
    """One row per channel the candidate consented to; one suppressed row (`no_consent`) when none."""
    channels, none_consented = candidate_channels(contact)
    if none_consented:
        # Visible, not silent: one suppressed row says why nothing goes out.
        return [
            PlannedNotification(
                candidate_id,
                RecipientKind.CANDIDATE,
                Channel.EMAIL,
                purpose,
                about_id,
                not_before,
                payload,
                related_id=related_id,
                critical=critical,
                suppressed_why=SuppressionReason.NO_CONSENT,
            )
        ]
    return [
        PlannedNotification(
            candidate_id,
            RecipientKind.CANDIDATE,
            channel,
            purpose,
            about_id,
            not_before,
            payload,
            related_id=related_id,
            held=held,
            critical=critical,
        )
        for channel in channels
    ]


def match_payload(match: MatchFound) -> dict[str, Any]:
    """What a match notification shows: the offer's essentials and the reasons (no contact data)."""
    return {
        "match_id": match.match_id,
        "offer_id": match.offer_id,
        "offer_kind": str(match.offer_kind),
        "offer_version": match.offer_version,
        "offer_title": match.offer_title,
        "rome_code": match.rome_code,
        "commune_insee": match.commune_insee,
        "establishment_name": match.establishment_name,
        "distance_km": round(match.distance_km, 1),
        "score": match.score,
        "reasons": list(match.reasons),
        "close_metier": match.close_metier,
    }


def plan_match(
    match: MatchFound, contact: Contact | None, now: datetime, policy: Policy
) -> list[PlannedNotification]:
    """One row per consented channel; held for the digest when the candidate chose a daily digest.

    An urgent replacement shift is never held for the digest (it would be too late) and goes out
    as an `urgent_shift`: its SMS may use the urgent window, for those who consented to it.
    The key's subject is the offer and its version 1: a candidate hears about an offer at most
    once, even when the offer is edited and matched again.
    """
    daily = contact is not None and contact.digest is DigestMode.DAILY and not match.urgent
    not_before = next_digest_at(now, policy.digest_at, policy.tz) if daily else now
    return for_candidate(
        contact,
        match.candidate_id,
        NotificationPurpose.URGENT_SHIFT if match.urgent else NotificationPurpose.MATCH,
        match.offer_id,
        not_before,
        match_payload(match),
        related_id=match.match_id,
        held=daily,
    )


def booking_payload(
    booking: ImmersionBooked | ImmersionRefused, slot: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What a booking notification shows: the slot's essentials and the dates."""
    payload: dict[str, Any] = {
        "request_id": booking.request_id,
        "slot_id": booking.slot_id,
        "candidate_id": booking.candidate_id,
        "start_date": booking.start_date.isoformat(),
        "end_date": booking.end_date.isoformat(),
    }
    if isinstance(booking, ImmersionBooked):
        payload["places_left"] = booking.places_left  # shown to the host, also when the slot comes late
    if slot is not None:
        payload["slot"] = dict(slot)
    return payload


def plan_booking(
    booked: ImmersionBooked,
    contact: Contact | None,
    slot: Mapping[str, Any] | None,
    *,
    booked_at: datetime,
    now: datetime,
    policy: Policy,
) -> list[PlannedNotification]:
    """The candidate's confirmation, the host tutor's notice, and the reminder the day before.

    The reminder is planned when the booking was made before the reminder time (decided from the
    event's time, so a redelivery plans the same) and the immersion has not started yet.
    """
    payload = booking_payload(booked, slot)
    rows = for_candidate(
        contact,
        booked.candidate_id,
        NotificationPurpose.IMMERSION_BOOKED,
        booked.request_id,
        now,
        payload,
        related_id=booked.request_id,
    )
    rows.append(
        PlannedNotification(
            booked.establishment_id,
            RecipientKind.ESTABLISHMENT,
            Channel.EMAIL,
            NotificationPurpose.IMMERSION_BOOKED_HOST,
            booked.request_id,
            now,
            payload,
            related_id=booked.request_id,
        )
    )
    remind = reminder_at(booked.start_date, policy.reminder_at, policy.tz)
    starts = local_datetime(booked.start_date, time(0, 0), policy.tz)
    if booked_at < remind and now < starts:
        rows += for_candidate(
            contact,
            booked.candidate_id,
            NotificationPurpose.IMMERSION_REMINDER,
            booked.request_id,
            max(remind, now),
            payload,
            related_id=booked.request_id,
            critical=True,
        )
    return rows


def plan_refusal(
    refused: ImmersionRefused, contact: Contact | None, slot: Mapping[str, Any] | None, now: datetime
) -> list[PlannedNotification]:
    """The candidate is told, with the reason in plain words."""
    payload = booking_payload(refused, slot)
    payload["reason"] = str(refused.reason)
    payload["message"] = refused.message
    return for_candidate(
        contact,
        refused.candidate_id,
        NotificationPurpose.IMMERSION_REFUSED,
        refused.request_id,
        now,
        payload,
        related_id=refused.request_id,
    )
