"""Domain values: a contact and its consent, a planned notification, an item due for sending."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from vocation_shared.contracts.vocabulary import Channel, DigestMode, NotificationPurpose


class RecipientKind(StrEnum):
    """Who receives a notification: a candidate (consent applies) or a host establishment's tutor."""

    CANDIDATE = "candidate"
    ESTABLISHMENT = "establishment"


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
