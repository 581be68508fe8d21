"""Every port of the application layer: the repositories and their unit of work, the senders, the
publisher, the metrics and the clock (Protocols; PostgreSQL, SMTP, Brevo, Kafka and Prometheus
adapters implement them, `testing/fakes.py` holds the fakes)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent
from vocation_shared.contracts.vocabulary import (
    Channel,
    ConsentOrigin,
    NotificationPurpose,
    SuppressionReason,
)
from vocation_shared.links import Link
from vocation_shared.pseudonyms import Pseudonymizer
from vocation_shared.unit_of_work import Transactional

from vocation_notifications.core.consent import ConsentMark, Suppression
from vocation_notifications.core.digest import Digest, HeldRow
from vocation_notifications.core.model import (
    Contact,
    NotificationRef,
    OutboxRow,
    PlannedNotification,
    RecipientKind,
)


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


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """Subject, plain text and HTML of an email, and its unsubscribe URL (candidates only)."""

    subject: str
    text: str
    html: str
    unsubscribe_url: str | None


class Templates(Protocol):
    """Words every purpose for email and SMS (Jinja2 templates in French in production)."""

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
        """The email of `purpose`; candidates get the unsubscribe link, hosts do not."""
        ...

    def sms(
        self, purpose: NotificationPurpose, payload: dict[str, Any], *, recipient_id: str = ""
    ) -> tuple[str, bool]:
        """The SMS of `purpose` with its one link (personal: signed for `recipient_id`) and STOP
        mention, and whether it needs UCS-2."""
        ...


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


class Metrics(Protocol):
    """What the application layer counts (Prometheus in production: `adapters/metrics.py`)."""

    def outcome(self, channel: Channel, purpose: NotificationPurpose, outcome: str) -> None:
        """One notification's outcome: sent, failed, retried, deferred, held or suppressed."""
        ...

    def queue_depth(self, state: str, rows: int) -> None:
        """Outbox rows not finished yet in `state` (pending, held, sending)."""
        ...

    def send_duration(self, channel: Channel, seconds: float) -> None:
        """How long one provider call took."""
        ...

    def too_old(self, kind: str, facts: int = 1) -> None:
        """Facts of `kind` (match, booking) not told because too old when they arrived."""
        ...

    def consent_withdrawn(self, origin: ConsentOrigin) -> None:
        """A consent withdrawn here (a STOP reply, an unsubscribe)."""
        ...

    def opt_out_kept(self, channel: Channel) -> None:
        """A partner's state claimed a channel the candidate opted out of: kept off."""
        ...


class Publisher(Protocol):
    """Publishes facts on Kafka (acks=all), each on the topic its type belongs to."""

    async def publish(self, event: AnyEvent) -> None:
        """Publish one event; returns once the broker acknowledged it."""
        ...

    async def publish_many(self, events: Iterable[AnyEvent]) -> None:
        """Publish events in order; returns once the broker acknowledged them all."""
        ...

    async def tombstone(self, topic: str, key: str) -> None:
        """Write a tombstone (null value): compaction erases every record of `key`."""
        ...


class FactRelay(Protocol):
    """Publishes the facts committed in the event outbox, in their order, then forgets them."""

    async def relay(self, limit: int = 500) -> int:
        """Publish what is committed, `limit` facts per transaction, until none is left (or another
        relay is publishing them); how many were published."""
        ...


# --- repositories: one per aggregate, bound to the unit of work's transaction ---------------------


class Contacts(Protocol):
    """Candidates' contacts (sealed at rest) and their consent suppressions."""

    async def get(self, candidate_id: str) -> Contact | None:
        """The stored contact, if any."""
        ...

    async def get_many(self, candidate_ids: Iterable[str]) -> dict[str, Contact]:
        """The stored contacts of these candidates, by candidate id; unknown ones absent."""
        ...

    async def save_many(self, contacts: Sequence[Contact]) -> list[str]:
        """Store full states (one per candidate) unless a newer version is stored (equal wins);
        the usable channels are the claimed ones minus the active suppressions. Returns the
        candidates whose state was applied."""
        ...

    async def add_missing(self, contacts: Sequence[Contact]) -> list[str]:
        """Store states only for candidates with no contact here; returns those stored."""
        ...

    async def lock(self, candidate_ids: Iterable[str]) -> None:
        """Lock these candidates' contacts (a steady order) until the unit of work ends."""
        ...

    async def record_consent_marks(self, marks: Iterable[ConsentMark]) -> None:
        """Merge suppressions and re-consents: per (candidate, channel) the newest time of each kind."""
        ...

    async def suppressed_channels(
        self, candidate_ids: Iterable[str]
    ) -> dict[str, dict[Channel, Suppression]]:
        """The active suppressions of these candidates, by candidate and channel."""
        ...

    async def refresh_channels(self, candidate_ids: Iterable[str]) -> dict[str, frozenset[Channel]]:
        """Usable channels := claimed minus suppressed; returns the channels kept off, per candidate."""
        ...

    async def with_phone(self, phone: str) -> list[str]:
        """Candidates reachable at this phone number (a family may share one)."""
        ...

    async def reseal_batch(self, after: str, batch: int = 500) -> tuple[int, str | None]:
        """Seal with the current key the next `batch` contacts after id `after` that need it: how many
        were, and the id to go on after (None once every contact was looked at)."""
        ...

    async def erase(self, candidate_id: str) -> None:
        """Forget the contact and its suppressions."""
        ...


class Snapshots(Protocol):
    """What this service keeps of establishments, vacancies and immersion slots (newest version wins)."""

    async def save_establishment(self, data: p.Establishment) -> None:
        """Keep an establishment's name, address and tutor address."""
        ...

    async def save_slot(self, data: p.ImmersionSlot) -> None:
        """Keep an immersion slot's essentials."""
        ...

    async def save_vacancy(self, data: p.Vacancy) -> None:
        """Keep a vacancy's title, site, partner page and recruiting contact."""
        ...

    async def vacancy_departement(self, vacancy_id: str) -> str | None:
        """The département of a vacancy's establishment (else of its commune), if known."""
        ...

    async def slot_snapshot(self, slot_id: str, places_left: int | None) -> dict[str, Any] | None:
        """What booking notifications show of a slot (and its establishment's address), if known."""
        ...


class Outbox(Protocol):
    """The notifications to send: planned, decided, claimed, sent, failed or suppressed.

    Methods that suppress rows return them: the caller records their facts (`EventOutbox`).
    """

    async def plan(self, rows: Sequence[PlannedNotification], now: datetime) -> list[NotificationRef]:
        """Insert planned rows one by one; existing keys are kept (at most once), except a match
        withdrawn before it was sent, which a new match revives. Returns the rows added or revived."""
        ...

    async def plan_many(self, rows: Sequence[PlannedNotification], now: datetime) -> list[NotificationRef]:
        """`plan` in one statement; the rows' keys must be distinct."""
        ...

    async def withdraw_many(
        self, pairs: Sequence[tuple[str, str]], purposes: Sequence[NotificationPurpose]
    ) -> tuple[int, list[NotificationRef]]:
        """Suppress (`withdrawn`) what is unsent about these (recipient, subject) pairs, taking them out
        of unsent digests too. Returns how many rows and the refs whose facts to record."""
        ...

    async def withdraw_related(
        self, related_id: str, purposes: Sequence[NotificationPurpose]
    ) -> list[NotificationRef]:
        """Suppress (`withdrawn`) unsent rows of every recipient about a request."""
        ...

    async def due(self, now: datetime, limit: int) -> list[OutboxRow]:
        """Due pending rows with their recipient's contact or host address, locked (skip locked)."""
        ...

    async def lock_recipients(self, recipient_ids: Iterable[str]) -> None:
        """Serialise cap decisions per recipient across workers until the unit of work ends."""
        ...

    async def capped_counts(
        self,
        recipient_ids: Sequence[str],
        purposes: Iterable[NotificationPurpose],
        day: tuple[datetime, datetime],
    ) -> dict[tuple[str, Channel], int]:
        """Capped messages sent (or being sent) in `day`, per recipient and channel."""
        ...

    async def mark_sending(
        self, rows: Sequence[OutboxRow], now: datetime, lease_until: datetime
    ) -> list[tuple[str, int]]:
        """Claim rows for one attempt each; (attempt id, attempt number) per row."""
        ...

    async def defer(self, row_id: str, until: datetime, *, hold: bool = False) -> None:
        """Leave a row for later (or hold it for the digest)."""
        ...

    async def wake_many(self, recipient_ids: Sequence[str], kind: RecipientKind, now: datetime) -> int:
        """Make these recipients' unsent, never attempted rows (reminders aside) due now; how many."""
        ...

    async def suppress(self, row: OutboxRow, why: SuppressionReason) -> None:
        """Do not send this row."""
        ...

    async def mark_sent_many(
        self, sent: Sequence[tuple[OutboxRow, str, int, str | None]], now: datetime
    ) -> list[bool]:
        """Record acceptances (row, attempt id, attempt number, provider id); per item, whether the
        attempt still owned its row."""
        ...

    async def mark_failed(
        self, row: OutboxRow, attempt_id: str, error: str, retry_at: datetime | None
    ) -> bool:
        """A failed attempt: pending again at `retry_at`, or failed for good (None); False when the
        attempt no longer owns the row."""
        ...

    async def release_expired(self, now: datetime, limit: int = 500) -> int:
        """Rows whose attempt outlived its lease go back to pending; how many."""
        ...

    async def depth(self) -> dict[str, int]:
        """Rows per unfinished state."""
        ...

    async def erase(self, candidate_id: str) -> list[NotificationRef]:
        """Suppress (`erased`) a candidate's unsent rows, and the unsent recruiters' rows about their
        applications; returns them."""
        ...

    async def keep_under_pseudonym(self, candidate_id: str, pseudonyms: Pseudonymizer) -> int:
        """Keep every row of the candidate (at most once) under their pseudonym, payload emptied, the
        related id a pseudonym too; the recruiters' rows about them keep their key, payload emptied (a row kept so by an earlier erasure wins: the new one is deleted);
        how many rows the candidate had."""
        ...


class Digests(Protocol):
    """Held matches gathered into one message per person, channel and day."""

    async def due_held(self, now: datetime, limit: int) -> list[HeldRow]:
        """Held rows whose digest time has come, locked."""
        ...

    async def save(self, digest: Digest, now: datetime) -> None:
        """Insert the digest row and mark its rows digested."""
        ...


class EventOutbox(Protocol):
    """Facts recorded in the transaction that causes them, published afterwards in their order (by
    the `FactRelay`)."""

    async def queue(self, events: Iterable[AnyEvent]) -> None:
        """Record facts to publish (an id already queued is kept once)."""
        ...

    async def queue_tombstone(self, topic: str, key: str) -> None:
        """Record a tombstone to publish after the facts recorded so far."""
        ...

    async def drop_consent_updates(self, candidate_id: str) -> None:
        """Forget a candidate's `consent-updated` facts not published yet (an erasure)."""
        ...


class ProcessedEvents(Protocol):
    """Which events a consumer has applied already (redeliveries and replays are skipped)."""

    async def mark_many(self, consumer: str, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Mark (source, event id) pairs processed; returns the pairs not seen before."""
        ...

    async def pseudonymize_bare(self, key_of: Callable[[str], str], chunk: int = 10_000) -> int:
        """Rewrite up to `chunk` marks written before pseudonyms (bare event ids) with `key_of(id)`;
        how many (0: none left)."""
        ...


class UnitOfWork(Transactional, Protocol):
    """The repositories bound to one transaction: committed when the block ends normally, rolled
    back when it raises."""

    @property
    def contacts(self) -> Contacts: ...

    @property
    def snapshots(self) -> Snapshots: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def digests(self) -> Digests: ...

    @property
    def events(self) -> EventOutbox: ...

    @property
    def processed(self) -> ProcessedEvents: ...


class UnitsOfWork(Protocol):
    """Opens units of work (`async with units() as uow: ...`)."""

    def __call__(self) -> UnitOfWork:
        """A new unit of work, begun on entering it."""
        ...


class PublicCommands(Protocol):
    """What the public HTTP routes ask of the application layer (`handlers.Handlers`)."""

    async def withdraw(self, candidate_id: str, channel: Channel, origin: ConsentOrigin) -> bool:
        """Suppress `channel` for the candidate; False when there was nothing to do."""
        ...

    async def stop_reply(self, phone: str) -> int:
        """A STOP reply from `phone`: withdraw SMS consent of every candidate at that number."""
        ...

    async def renew_link(self, link: Link) -> None:
        """Send a fresh link in place of an expired genuine one (once per pair, action and day)."""
        ...
