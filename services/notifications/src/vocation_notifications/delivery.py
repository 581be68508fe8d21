"""The delivery worker: builds digests, claims due outbox rows, sends them, records and publishes outcomes.

Crash protocol (see README): a row is claimed (pending → sending, new attempt id, lease) and
committed before the provider is called; the provider's acceptance is then recorded (sending →
sent) in one transaction with the `notification-sent` fact. A row whose lease expired goes back
to pending; before any attempt after the first, the provider is asked whether it already has
the message (SMS: tag = notification id; email: the deterministic Message-ID, from the email
provider's activity log), so a message it confirmed is never sent twice. Plain SMTP without such
a log cannot be asked: the email is then re-sent with the same Message-ID, so the only duplicate
possible is one whose acceptance the crash prevented us from recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from vocation_shared.backoff import Backoff
from vocation_shared.contracts.vocabulary import Channel
from vocation_shared.logs import get_logger, redact

from vocation_notifications.core.decisions import Action, decide
from vocation_notifications.core.digest import build_digests
from vocation_notifications.core.facts import OutcomeEvents
from vocation_notifications.core.model import DueItem, OutboxRow
from vocation_notifications.core.policy import CAPPED_PURPOSES, Policy
from vocation_notifications.core.schedule import local_day_bounds
from vocation_notifications.ports import (
    Clock,
    DeliveryError,
    EmailMessage,
    EmailSender,
    FactRelay,
    Metrics,
    Receipt,
    SmsMessage,
    SmsSender,
    Templates,
    UnitsOfWork,
)

log = get_logger(__name__)

DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (OSError, TimeoutError)
"""Errors meaning a dependency is down (the composition root adds its drivers'): logged as such."""

UNREADABLE_RETRY = timedelta(minutes=5)
"""A row whose sealed contact does not open (its key left the settings) is looked at again this late."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the provider said about one attempt: a receipt or an error."""

    claimed: Claimed
    receipt: Receipt | None
    error: DeliveryError | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row this worker owns for one attempt."""

    row: OutboxRow
    attempt_id: str
    attempts: int


class DeliveryWorker:
    """Sends what is due, one batch at a time; `run` loops until stopped."""

    def __init__(
        self,
        *,
        units: UnitsOfWork,
        facts: OutcomeEvents,
        renderer: Templates,
        email: EmailSender,
        sms: SmsSender,
        relay: FactRelay,
        clock: Clock,
        policy: Policy,
        backoff: Backoff,
        metrics: Metrics,
        batch: int = 100,
        lease_s: float = 120.0,
        email_concurrency: int = 4,
        sms_concurrency: int = 8,
        dependency_errors: tuple[type[Exception], ...] = DEPENDENCY_ERRORS,
    ) -> None:
        self._units = units
        self._facts = facts
        self._renderer = renderer
        self._email = email
        self._sms = sms
        self._relay = relay
        self._clock = clock
        self._policy = policy
        self._backoff = backoff
        self._metrics = metrics
        self._batch = batch
        self._lease = timedelta(seconds=lease_s)
        self._email_slots = asyncio.Semaphore(email_concurrency)
        self._sms_slots = asyncio.Semaphore(sms_concurrency)
        self._dependency_errors = dependency_errors
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event, poll_s: float = 0.2, lanes: int = 1) -> None:
        """Run `lanes` loops at once, so that one claims and records while another sends.

        Lanes claim disjoint rows (SKIP LOCKED), share the provider connections, and caps stay
        exact (per-recipient advisory locks).
        """
        await asyncio.gather(*(self._lane(stop, poll_s, first=n == 0) for n in range(max(1, lanes))))

    async def _lane(self, stop: asyncio.Event, poll_s: float, *, first: bool) -> None:
        """Loop: a batch, then wait for work (or `poll_s`); errors are logged and the loop goes on."""
        last_depth = 0.0
        while not stop.is_set():
            # Cleared before looking for work: a wake-up set while this pass runs (a batch planned
            # after its claim query) makes the wait below return at once instead of after `poll_s`.
            self.wake.clear()
            try:
                done = await self.run_once()
                if first and time.monotonic() - last_depth > 5:
                    await self.update_depth()
                    last_depth = time.monotonic()
            except self._dependency_errors as exc:
                log.warning("delivery.dependency_unavailable", error=repr(exc))
                done = 0
                await asyncio.sleep(1)
            except Exception:
                log.exception("delivery.loop_bug")
                done = 0
                await asyncio.sleep(1)
            if done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), poll_s)

    async def run_once(self) -> int:
        """One pass: digests, expired leases, one batch sent, facts published. Returns rows handled."""
        await self.build_digests()
        await self.release_expired()
        claimed = await self.claim()
        if claimed:
            done: asyncio.Queue[Outcome | None] = asyncio.Queue()
            recorder = asyncio.create_task(self._recorder(done))
            try:
                await asyncio.gather(*(self._deliver(c, done) for c in claimed))
            finally:
                done.put_nowait(None)
                await recorder
        await self.publish_outcomes()
        return len(claimed)

    async def build_digests(self) -> int:
        """Gather held matches whose digest time came into one digest row per person and channel."""
        now = self._clock.now()
        async with self._units() as uow:
            held = await uow.digests.due_held(now, 5000)
            digests = build_digests(held, now, self._policy.tz)
            for digest in digests:
                await uow.digests.save(digest, now)
        return len(digests)

    async def release_expired(self) -> int:
        """Give back rows whose attempt outlived its lease (the worker died mid-send)."""
        async with self._units() as uow:
            released = await uow.outbox.release_expired(self._clock.now())
        if released:
            log.warning("delivery.leases_expired", rows=released)
        return released

    async def claim(self) -> list[Claimed]:
        """Decide for each due row (send, defer, hold, suppress); claim those to send."""
        now = self._clock.now()
        to_send: list[OutboxRow] = []
        async with self._units() as uow:
            rows = await uow.outbox.due(now, self._batch)
            if not rows:
                return []
            capped = [r.recipient_id for r in rows if r.purpose in CAPPED_PURPOSES]
            counts: dict[tuple[str, Channel], int] = {}
            if capped:
                await uow.outbox.lock_recipients(capped)
                counts = await uow.outbox.capped_counts(
                    capped, CAPPED_PURPOSES, local_day_bounds(now, self._policy.tz)
                )
            for row in rows:
                if row.unreadable is not None:
                    # A key missing from the settings: loud, kept, and out of the way of the others.
                    log.error("notification.contact_unreadable", notification_id=row.id, error=row.unreadable)
                    await uow.outbox.defer(row.id, now + UNREADABLE_RETRY, hold=False)
                    continue
                key = (row.recipient_id, row.channel)
                decision = decide(
                    DueItem(
                        row.recipient_kind,
                        row.channel,
                        row.purpose,
                        row.created_at,
                        row.critical,
                        slot_unknown=row.slot_unknown,
                    ),
                    contact=row.contact,
                    host_address=row.host_address,
                    now=now,
                    policy=self._policy,
                    capped_sent_today=counts.get(key, 0),
                )
                if decision.action is Action.SEND:
                    to_send.append(row)
                    if row.purpose in CAPPED_PURPOSES:
                        counts[key] = counts.get(key, 0) + 1
                elif decision.action in (Action.DEFER, Action.HOLD):
                    assert decision.until is not None
                    await uow.outbox.defer(row.id, decision.until, hold=decision.action is Action.HOLD)
                    outcome = "held" if decision.action is Action.HOLD else "deferred"
                    self._metrics.outcome(row.channel, row.purpose, outcome)
                else:
                    assert decision.why is not None
                    await uow.outbox.suppress(row, decision.why)
                    await uow.events.queue([self._facts.suppressed(row, now, decision.why)])
                    self._metrics.outcome(row.channel, row.purpose, "suppressed")
                    log.info(
                        "notification.suppressed",
                        notification_id=row.id,
                        recipient_id=row.recipient_id,
                        why=str(decision.why),
                    )
            attempts = await uow.outbox.mark_sending(to_send, now, now + self._lease)
        return [Claimed(row, a_id, n) for row, (a_id, n) in zip(to_send, attempts, strict=True)]

    async def _deliver(self, claimed: Claimed, done: asyncio.Queue[Outcome | None]) -> None:
        row = claimed.row
        slots = self._email_slots if row.channel is Channel.EMAIL else self._sms_slots
        async with slots:
            started = time.perf_counter()
            try:
                receipt = await self._attempt(claimed)
            except DeliveryError as exc:
                done.put_nowait(Outcome(claimed, None, exc))
                return
            except Exception as exc:  # a bug in rendering: fail this row for good, visibly
                log.exception("notification.bug", notification_id=row.id, recipient_id=row.recipient_id)
                error = DeliveryError(f"internal error: {type(exc).__name__}", permanent=True)
                done.put_nowait(Outcome(claimed, None, error))
                return
            elapsed = time.perf_counter() - started
            self._metrics.send_duration(row.channel, elapsed)
        done.put_nowait(Outcome(claimed, receipt, None))

    async def _recorder(self, done: asyncio.Queue[Outcome | None]) -> None:
        """Group commit: record every outcome available in one transaction, while sends go on.

        The window between a provider's acceptance and its record stays a few milliseconds.
        """
        finished = False
        while not finished:
            first = await done.get()
            if first is None:
                return
            outcomes = [first]
            while not done.empty():
                item = done.get_nowait()
                if item is None:
                    finished = True
                    break
                outcomes.append(item)
            await self._record(outcomes)

    async def _record(self, outcomes: list[Outcome]) -> None:
        now = self._clock.now()
        logged: list[tuple[Outcome, bool, datetime | None]] = []
        accepted = [o for o in outcomes if o.receipt is not None]
        async with self._units() as uow:
            # Every acceptance in one statement (with its facts), then the failures one by one.
            sent = [
                (o.claimed.row, o.claimed.attempt_id, o.claimed.attempts, o.receipt.provider_message_id)
                for o in accepted
                if o.receipt is not None
            ]
            owned = await uow.outbox.mark_sent_many(sent, now)
            await uow.events.queue(
                self._facts.sent(row, now, provider_id, attempts)
                for (row, _, attempts, provider_id), ok in zip(sent, owned, strict=True)
                if ok
            )
            logged += [(o, ok, None) for o, ok in zip(accepted, owned, strict=True)]
            for outcome in outcomes:
                claimed = outcome.claimed
                if outcome.receipt is not None:
                    continue
                assert outcome.error is not None
                retry_at = self._retry_at(claimed, outcome.error, now)
                # The one place a failure is stored (last_error) and published (notification.failed):
                # whatever a provider said, no address or number goes further.
                message = redact(str(outcome.error))
                if retry_at is None and not outcome.error.permanent:
                    message += f" (gave up after {claimed.attempts} attempts)"
                if await uow.outbox.mark_failed(claimed.row, claimed.attempt_id, message, retry_at):
                    fact = self._facts.failed(
                        claimed.row,
                        now,
                        message,
                        permanent=retry_at is None,
                        attempts=claimed.attempts,
                        next_at=retry_at,
                    )
                    await uow.events.queue([fact])
                logged.append((outcome, True, retry_at))
        for outcome, was_recorded, retry_at in logged:
            row = outcome.claimed.row
            if outcome.receipt is not None:
                if was_recorded:
                    self._metrics.outcome(row.channel, row.purpose, "sent")
                    log.info(  # by id only: the operators' trail of who was told what
                        "notification.sent",
                        notification_id=row.id,
                        recipient_id=row.recipient_id,
                        channel=str(row.channel),
                        purpose=str(row.purpose),
                        attempts=outcome.claimed.attempts,
                    )
                continue
            self._metrics.outcome(row.channel, row.purpose, "retried" if retry_at else "failed")
            log.warning(
                "notification.failed",
                notification_id=row.id,
                recipient_id=row.recipient_id,
                error=redact(str(outcome.error)),
                permanent=retry_at is None,
                attempts=outcome.claimed.attempts,
            )

    def _retry_at(self, claimed: Claimed, error: DeliveryError, now: datetime) -> datetime | None:
        if error.permanent or self._backoff.exhausted(claimed.attempts):
            return None
        return now + timedelta(seconds=self._backoff.delay(claimed.attempts, error.retry_after_s))

    async def _attempt(self, claimed: Claimed) -> Receipt:
        row = claimed.row
        if claimed.attempts > 1:
            # An earlier attempt may have reached the provider (crash, timeout): ask first.
            sender = self._sms if row.channel is Channel.SMS else self._email
            known = await sender.lookup(row.id)
            if known is not None:
                log.info(
                    "notification.already_at_provider", notification_id=row.id, recipient_id=row.recipient_id
                )
                return known
        if row.channel is Channel.SMS:
            phone = row.contact.phone if row.contact is not None else None
            if phone is None:
                raise DeliveryError("no phone number", permanent=True)
            text, unicode = self._renderer.sms(row.purpose, row.payload, recipient_id=row.recipient_id)
            return await self._sms.send(SmsMessage(row.id, phone, text, unicode))
        address = (
            row.host_address
            if row.recipient_kind.professional
            else (row.contact.email if row.contact is not None else None)
        )
        if address is None:
            raise DeliveryError("no email address", permanent=True)
        rendered = self._renderer.email(
            row.purpose,
            row.payload,
            recipient_id=row.recipient_id,
            recipient_kind=row.recipient_kind,
            first_name=row.contact.first_name if row.contact is not None else None,
            guest_first_name=row.guest_first_name,
        )
        headers: dict[str, str] = {}
        if rendered.unsubscribe_url is not None:
            headers["List-Unsubscribe"] = f"<{rendered.unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return await self._email.send(
            EmailMessage(row.id, address, rendered.subject, rendered.text, rendered.html, headers)
        )

    async def publish_outcomes(self, limit: int = 500) -> int:
        """Publish the facts committed in the event outbox, in order, then forget them (at least once,
        ids deterministic); how many."""
        return await self._relay.relay(limit)

    async def update_depth(self) -> None:
        """Refresh the queue depth gauge."""
        async with self._units() as uow:
            depth = await uow.outbox.depth()
        for state, count in depth.items():
            self._metrics.queue_depth(state, count)
