"""What to put in the outbox for each fact of an application (pure, decided from the event).

One message per (application, purpose): the employer's email and its one reminder are keyed by
(vacancy, purpose, application); the candidate's messages by (candidate, channel, purpose,
`<application>.<state>`). A replay or a redelivery plans the same keys, which the outbox keeps once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from vocation_shared.contracts.payloads import (
    ApplicationAnswered,
    ApplicationSubmitted,
    ApplicationWithdrawn,
    RecruitingContact,
    application_id_of,
)
from vocation_shared.contracts.vocabulary import ApplicationWithdrawalReason, Channel, NotificationPurpose
from vocation_shared.links import Action, Link
from vocation_shared.working_days import add_working_days

from vocation_notifications.core.model import Contact, PlannedNotification, RecipientKind
from vocation_notifications.core.planning import for_candidate
from vocation_notifications.core.policy import Policy
from vocation_notifications.core.windows import local_datetime

REMINDER_WORKING_DAYS = 5
"""The one reminder to the employer comes this many working days after the submission."""

EMPLOYER_ACTIONS = frozenset({Action.PROPOSE_EXCHANGE, Action.DECLINE, Action.HIRED})
"""Links that act for the employer: a fresh one goes to the recruiting contact."""
RENEWABLE_ACTIONS = EMPLOYER_ACTIONS | {
    Action.VIEW_OFFER,
    Action.INTERESTED,
    Action.NOT_FOR_ME,
    Action.WITHDRAW,
}
"""Links `/liens/nouveau` renews (the unsubscribe links never expire in practice: 400 days)."""

TOLD_WITHDRAWALS = frozenset(
    {
        ApplicationWithdrawalReason.UNANSWERED,
        ApplicationWithdrawalReason.OFFER_CLOSED,
        ApplicationWithdrawalReason.OFFER_FILLED,
    }
)
"""Withdrawals the candidate is told of. Their own withdrawal is not: the page they confirmed it on
already said so, and a second message would only repeat it."""

EMPLOYER_PURPOSES = (NotificationPurpose.APPLICATION_RECEIVED, NotificationPurpose.APPLICATION_REMINDER)


def departement_of(commune_insee: str | None) -> str | None:
    """The département of a commune's INSEE code (three characters overseas), or None."""
    if not commune_insee:
        return None
    return commune_insee[:3] if commune_insee.startswith("97") else commune_insee[:2]


def reminder_at(submitted_at: datetime, departement: str | None, policy: Policy) -> datetime:
    """5 working days after the submission, at the same local time, in the platform's time zone."""
    local = submitted_at.astimezone(policy.tz)
    day: date = add_working_days(local.date(), REMINDER_WORKING_DAYS, departement)
    return local_datetime(day, local.time().replace(microsecond=0), policy.tz)


def submitted_payload(data: ApplicationSubmitted) -> dict[str, Any]:
    """What the employer's email shows: the summary, the message, the share flags (never the contact)."""
    return {
        "application_id": data.application_id,
        "candidate_id": data.candidate_id,
        "offer_id": data.offer_id,
        "offer_kind": str(data.offer_kind),
        "message": data.message,
        "shares": {"email": data.shares.email, "phone": data.shares.phone},
        "summary": data.summary.model_dump(mode="json"),
        "submitted_at": data.submitted_at.isoformat(),
    }


def plan_submitted(
    data: ApplicationSubmitted, departement: str | None, now: datetime, policy: Policy
) -> list[PlannedNotification]:
    """The recruiting contact's email now, and its one reminder 5 working days later.

    Both go to the vacancy's recruiting contact (else its site's), read when they are sent: a
    contact that changes in between is the one written to. The reminder is dropped by an answer
    or a withdrawal (`withdraw_related` on the application id).
    """
    received = PlannedNotification(
        data.offer_id,
        RecipientKind.RECRUITER,
        Channel.EMAIL,
        NotificationPurpose.APPLICATION_RECEIVED,
        data.application_id,
        now,
        submitted_payload(data),
        related_id=data.application_id,
    )
    reminder = replace(
        received,
        purpose=NotificationPurpose.APPLICATION_REMINDER,
        not_before=max(now, reminder_at(data.submitted_at, departement, policy)),
        critical=True,
    )
    return [received, reminder]


def _pair(data: ApplicationAnswered | ApplicationWithdrawn) -> dict[str, Any]:
    return {
        "application_id": data.application_id,
        "candidate_id": data.candidate_id,
        "offer_id": data.offer_id,
    }


def plan_answered(
    data: ApplicationAnswered, contact: Contact | None, now: datetime
) -> list[PlannedNotification]:
    """The candidate is told the answer (on each channel they consented to), once per answer."""
    payload = {**_pair(data), "answer": str(data.answer), "reason": data.reason and str(data.reason)}
    return for_candidate(
        contact,
        data.candidate_id,
        NotificationPurpose.APPLICATION_ANSWERED,
        f"{data.application_id}.{data.answer}",
        now,
        payload,
        related_id=data.application_id,
    )


def plan_withdrawn(
    data: ApplicationWithdrawn, contact: Contact | None, now: datetime
) -> list[PlannedNotification]:
    """The candidate is told an application closed unanswered or with its offer (not their own withdrawal)."""
    if data.reason not in TOLD_WITHDRAWALS:
        return []
    return for_candidate(
        contact,
        data.candidate_id,
        NotificationPurpose.APPLICATION_CLOSED,
        f"{data.application_id}.closed",
        now,
        {**_pair(data), "reason": str(data.reason)},
        related_id=data.application_id,
    )


def plan_renewal(
    link: Link, contact: Contact | None, now: datetime, policy: Policy
) -> list[PlannedNotification]:
    """A fresh link for an expired genuine one: once per (pair, action, local day).

    An employer's action goes to the vacancy's recruiting contact, a candidate's to the candidate
    (on the channels they consented to). The key's version is the local day (20261203).
    """
    if link.action not in RENEWABLE_ACTIONS or not link.target_id:
        return []
    application_id = application_id_of(link.candidate_id, link.target_id)
    payload = {
        "application_id": application_id,
        "candidate_id": link.candidate_id,
        "offer_id": link.target_id,
        "action": str(link.action),
    }
    today = now.astimezone(policy.tz).date()
    version = today.year * 10_000 + today.month * 100 + today.day
    about_id = f"{application_id}.{link.action}"
    if link.action in EMPLOYER_ACTIONS:
        return [
            PlannedNotification(
                link.target_id,
                RecipientKind.RECRUITER,
                Channel.EMAIL,
                NotificationPurpose.LINK_RENEWED,
                about_id,
                now,
                payload,
                about_version=version,
                related_id=application_id,
            )
        ]
    rows = for_candidate(
        contact,
        link.candidate_id,
        NotificationPurpose.LINK_RENEWED,
        about_id,
        now,
        payload,
        related_id=application_id,
    )
    return [replace(row, about_version=version) for row in rows]


def recruiting_columns(contact: RecruitingContact | None) -> tuple[str | None, str | None, str | None]:
    """A recruiting contact as (name, email, phone), all None without one (a version without it clears it)."""
    if contact is None:
        return None, None, None
    return contact.name, str(contact.email), contact.phone


def shared_contact(payload: dict[str, Any], contact: Contact | None) -> dict[str, str]:
    """The candidate's email and phone the employer may read: only what `shares` allows."""
    shares = payload.get("shares") or {}
    if contact is None:
        return {}
    given: dict[str, str] = {}
    if shares.get("email") and contact.email:
        given["email"] = contact.email
    if shares.get("phone") and contact.phone:
        given["phone"] = contact.phone
    return given
