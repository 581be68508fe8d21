"""The sending decision for a due outbox row: send now, defer to the window's opening, or suppress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from vocation_shared.contracts.vocabulary import Channel, DigestMode, NotificationPurpose, SuppressionReason

from vocation_notifications.core.model import Contact, DueItem
from vocation_notifications.core.policy import CAPPED_PURPOSES, Policy
from vocation_notifications.core.schedule import next_digest_at


class Action(StrEnum):
    """What to do with a due row."""

    SEND = "send"
    DEFER = "defer"
    HOLD = "hold"
    SUPPRESS = "suppress"


@dataclass(frozen=True, slots=True)
class Decision:
    """The action, and its reason (suppress) or its new time (defer)."""

    action: Action
    why: SuppressionReason | None = None
    until: datetime | None = None


SEND = Decision(Action.SEND)


def decide(
    item: DueItem,
    *,
    contact: Contact | None,
    host_address: str | None,
    now: datetime,
    policy: Policy,
    capped_sent_today: int,
) -> Decision:
    """Decide for one due row, in this order: reachable, consented, digest, window, cap.

    Consent is checked at send time, whatever happened at planning: a revocation in between
    wins. A missing contact is waited for during `contact_grace` (events of other topics may
    lag), then the row is suppressed with `no_contact`; a booking message whose slot was not read
    yet waits for it as long, then goes without it. Hosts (professional addresses for
    booking confirmations) and recruiting contacts
    (applications: a professional's mailbox, like a tutor's) need no consent. SMS outside the window are deferred to its next
    opening; urgent shifts use the urgent window when the candidate explicitly agreed to it.
    Caps count what was sent in the local day for capped purposes only.
    """
    if item.recipient_kind.professional:
        if host_address is None:
            return _wait_or(item, now, policy, SuppressionReason.NO_CONTACT)
    elif contact is None:
        return _wait_or(item, now, policy, SuppressionReason.NO_CONTACT)
    elif not contact.consents_to(item.channel):
        return Decision(Action.SUPPRESS, why=SuppressionReason.NO_CONSENT)
    elif (
        item.purpose is NotificationPurpose.MATCH and contact.digest is DigestMode.DAILY and not item.critical
    ):
        # Chose the daily digest after this row was planned (or the contact arrived late).
        return Decision(Action.HOLD, until=next_digest_at(now, policy.digest_at, policy.tz))
    if item.slot_unknown and now < item.created_at + policy.contact_grace:
        # The slot is on another topic and may lag: a confirmation naming the place is worth a
        # few seconds; past the grace it goes anyway, with what the booking itself says.
        return _recheck(item, now, policy)
    if item.channel is Channel.SMS:
        window = policy.sms_window
        if (
            item.purpose is NotificationPurpose.URGENT_SHIFT
            and contact is not None
            and contact.urgent_shift_sms
        ):
            window = policy.urgent_sms_window
        if not window.contains(now):
            return Decision(Action.DEFER, until=window.next_opening(now))
    if item.purpose in CAPPED_PURPOSES and capped_sent_today >= policy.cap(item.channel):
        return Decision(Action.SUPPRESS, why=SuppressionReason.CAPPED)
    return SEND


CONTACT_RECHECK = timedelta(seconds=2)
"""At most this long between two looks for a contact that has not arrived yet.

The contact's arrival wakes the rows waiting for it, but it may commit while the worker is
deferring them (it read no contact a moment before): the next look comes soon anyway.
"""


def _wait_or(item: DueItem, now: datetime, policy: Policy, why: SuppressionReason) -> Decision:
    if now < item.created_at + policy.contact_grace:
        return _recheck(item, now, policy)
    return Decision(Action.SUPPRESS, why=why)


def _recheck(item: DueItem, now: datetime, policy: Policy) -> Decision:
    """Look again soon for what another topic has not brought yet, at the latest at the grace's end."""
    deadline = item.created_at + policy.contact_grace
    recheck = min(policy.contact_grace / 10, CONTACT_RECHECK)
    return Decision(Action.DEFER, until=min(deadline, now + recheck))
