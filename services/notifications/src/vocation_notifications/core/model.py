"""Domain values: a contact and its consent, a planned notification, an outbox row, an item due for sending."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from vocation_shared.contracts.vocabulary import (
    Channel,
    DigestMode,
    ImmersionRefusalReason,
    NotificationPurpose,
    SuppressionReason,
)

from vocation_notifications.core.policy import SLOT_PURPOSES


class RecipientKind(StrEnum):
    """Who receives a notification: a candidate (consent applies), a host establishment's tutor, or
    the recruiting contact of a vacancy (recipient id = the vacancy id; a professional address)."""

    CANDIDATE = "candidate"
    ESTABLISHMENT = "establishment"
    RECRUITER = "recruiter"

    @property
    def professional(self) -> bool:
        """A professional address (no consent, no unsubscribe link, no cap)."""
        return self is not RecipientKind.CANDIDATE


class OutboxState(StrEnum):
    """The life of an outbox row.

    held → (digest built) digested; pending → sending → sent | pending (retry) | failed;
    pending | held → suppressed.
    """

    HELD = "held"
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    DIGESTED = "digested"


@dataclass(frozen=True, slots=True)
class Contact:
    """A candidate's contact details and consent, as last received (or changed here)."""

    candidate_id: str
    email: str | None
    phone: str | None
    channels: frozenset[Channel]
    digest: DigestMode = DigestMode.INSTANT
    urgent_shift_sms: bool = False
    language: str = "fr"
    version: int = 1
    first_name: str | None = None

    def address(self, channel: Channel) -> str | None:
        """The email address or phone number for `channel`."""
        return self.email if channel is Channel.EMAIL else self.phone

    def consents_to(self, channel: Channel) -> bool:
        """Whether the candidate agreed to `channel` and can be reached on it."""
        return channel in self.channels and self.address(channel) is not None


@dataclass(frozen=True, slots=True)
class PlannedNotification:
    """A row to put in the outbox: who, how, why, about what, and from when."""

    recipient_id: str
    recipient_kind: RecipientKind
    channel: Channel
    purpose: NotificationPurpose
    about_id: str
    not_before: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    about_version: int = 1
    related_id: str | None = None
    held: bool = False
    critical: bool = False
    suppressed_why: str | None = None


@dataclass(frozen=True, slots=True)
class DueItem:
    """What the sending decision needs to know about a due outbox row."""

    recipient_kind: RecipientKind
    channel: Channel
    purpose: NotificationPurpose
    created_at: datetime
    critical: bool = False
    slot_unknown: bool = False
    """A booking message whose slot (title, site, tutor) has not been read yet."""


@dataclass(frozen=True, slots=True)
class NotificationRef:
    """What the `notifications` facts name of an outbox row (never an address)."""

    id: str
    recipient_id: str
    channel: Channel
    purpose: NotificationPurpose
    about_id: str
    why: SuppressionReason | None = None
    """Set when the row was suppressed (planned without consent, withdrawn, erased)."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An outbox row as the worker sees it, with the recipient's contact or host address."""

    id: str
    recipient_id: str
    recipient_kind: RecipientKind
    channel: Channel
    purpose: NotificationPurpose
    about_id: str
    payload: dict[str, Any]
    critical: bool
    attempts: int
    created_at: datetime
    contact: Contact | None
    host_address: str | None
    attempt_id: str | None = None
    guest_first_name: str | None = None
    """For the host's notice of a booking: the first name of the candidate who booked, if given."""
    unreadable: str | None = None
    """Why the recipient's sealed contact could not be opened (a key missing from the settings)."""

    @property
    def slot_unknown(self) -> bool:
        """A booking message about a slot this service has not read yet (its payload lacks it).

        Not a refusal because the slot does not exist: that slot will never come.
        """
        return (
            self.purpose in SLOT_PURPOSES
            and "slot" not in self.payload
            and self.payload.get("reason") != str(ImmersionRefusalReason.SLOT_UNKNOWN)
        )
