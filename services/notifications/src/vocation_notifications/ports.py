"""Interfaces the delivery logic depends on: email and SMS senders, and the clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class EmailMessage:
    """A rendered email, ready for the wire. `notification_id` makes its Message-ID."""

    notification_id: str
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """A rendered SMS. `notification_id` tags it at the provider, to find it again after a crash."""

    notification_id: str
    to: str
    text: str
    unicode: bool = False


@dataclass(frozen=True, slots=True)
class Receipt:
    """The provider accepted the message."""

    provider_message_id: str | None = None


class DeliveryError(Exception):
    """The provider did not accept the message. `permanent`: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after_s = retry_after_s


class EmailSender(Protocol):
    """Sends emails (SMTP in production)."""

    async def send(self, message: EmailMessage) -> Receipt:
        """Send one email; raise `DeliveryError` when it is not accepted."""
        ...

    async def lookup(self, notification_id: str) -> Receipt | None:
        """The provider's record of a message sent earlier, or None if unknown or not queryable."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class EmailEvents(Protocol):
    """The email provider's record of what it accepted, looked up by Message-ID."""

    async def lookup(self, message_id: str) -> Receipt | None:
        """The record of the message with this Message-ID, or None; raises `DeliveryError` if unsure."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class SmsSender(Protocol):
    """Sends SMS through a provider's HTTP API (or a local sink)."""

    async def send(self, message: SmsMessage) -> Receipt:
        """Send one SMS; raise `DeliveryError` when it is not accepted."""
        ...

    async def lookup(self, notification_id: str) -> Receipt | None:
        """The provider's record of an SMS tagged with `notification_id`, or None."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class Clock(Protocol):
    """Tells the time (injectable, so tests can move through the day)."""

    def now(self) -> datetime:
        """The current time, aware."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)
