"""Kafka handlers: contacts and consent, read models, and the facts that plan notifications.

Each handler opens a transaction, calls `mark_processed` (skips a duplicate), applies the core's
decision to the outbox, and commits both together. Handlers publish nothing themselves: the facts
they cause are queued in `outcome_events` and published by the worker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.events import AnyEvent, types_on
from vocation_shared.contracts.topics import Topic
from vocation_shared.contracts.vocabulary import NotificationPurpose
from vocation_shared.kafka import EventConsumer
from vocation_shared.logs import get_logger
from vocation_shared.postgres import mark_processed

from vocation_notifications.adapters.store import Store
from vocation_notifications.core.consent import contact_from
from vocation_notifications.core.model import RecipientKind
from vocation_notifications.core.planning import plan_booking, plan_match, plan_refusal
from vocation_notifications.core.policy import Policy
from vocation_notifications.ports import Clock

log = get_logger(__name__)

BOOKING_PURPOSES = (
    NotificationPurpose.IMMERSION_BOOKED,
    NotificationPurpose.IMMERSION_BOOKED_HOST,
    NotificationPurpose.IMMERSION_REMINDER,
)


class Handlers:
    """The service's reactions to events, each in one transaction with its processed mark."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: Store,
        clock: Clock,
        policy: Policy,
        group_prefix: str,
        on_planned: Callable[[], None] | None = None,
    ) -> None:
        self._pool = pool
        self._store = store
        self._clock = clock
        self._policy = policy
        self._prefix = group_prefix
        self._on_planned = on_planned or (lambda: None)

    def group(self, topic: Topic) -> str:
        """The consumer group (and processed-events consumer name) for a topic."""
        return f"{self._prefix}-{topic}"

    def register(self, consumer: EventConsumer) -> None:
        """Subscribe every handler."""
        consumer.subscribe(
            Topic.CANDIDATE_CONTACTS,
            group_id=self.group(Topic.CANDIDATE_CONTACTS),
            handle=self._wrap(Topic.CANDIDATE_CONTACTS, self.on_contact),
            accepts=types_on(Topic.CANDIDATE_CONTACTS),
            on_tombstone=self.on_contact_erased,
        )
        consumer.subscribe(
            Topic.ESTABLISHMENTS,
            group_id=self.group(Topic.ESTABLISHMENTS),
            handle=self._wrap(Topic.ESTABLISHMENTS, self.on_establishment),
        )
        consumer.subscribe(
            Topic.IMMERSION_SLOTS,
            group_id=self.group(Topic.IMMERSION_SLOTS),
            handle=self._wrap(Topic.IMMERSION_SLOTS, self.on_slot),
        )
        consumer.subscribe(
            Topic.MATCHES,
            group_id=self.group(Topic.MATCHES),
            handle=self._wrap(Topic.MATCHES, self.on_match),
        )
        consumer.subscribe(
            Topic.IMMERSION_BOOKINGS,
            group_id=self.group(Topic.IMMERSION_BOOKINGS),
            handle=self._wrap(Topic.IMMERSION_BOOKINGS, self.on_booking),
            accepts={ev.ImmersionBooked.TYPE, ev.ImmersionRefused.TYPE, ev.ImmersionCancelled.TYPE},
        )

    def _wrap(
        self, topic: Topic, apply: Callable[[asyncpg.Connection, AnyEvent], Awaitable[bool]]
    ) -> Callable[[AnyEvent], Awaitable[None]]:
        consumer = self.group(topic)

        async def handle(event: AnyEvent) -> None:
            async with self._pool.acquire() as conn, conn.transaction():
                if not await mark_processed(conn, consumer, event.source, event.id):
                    return
                planned = await apply(conn, event)
            if planned:
                self._on_planned()

        return handle

    async def on_contact(self, conn: asyncpg.Connection, event: AnyEvent) -> bool:
        """ContactRegistered / ConsentUpdated: store the full state (newest version wins)."""
        if isinstance(event, ev.ContactRegistered | ev.ConsentUpdated):
            applied = await self._store.save_contact(conn, contact_from(event.data))
            log.info(
                "contact.saved",
                recipient_id=event.data.candidate_id,
                applied=applied,
                version=event.data.version,
            )
            if applied:
                # What waited for this contact is decided now, not at its next retry.
                await self._store.wake(
                    conn, event.data.candidate_id, RecipientKind.CANDIDATE, self._clock.now()
                )
            return applied
        return False

    async def on_contact_erased(self, candidate_id: str) -> None:
        """Tombstone on candidate-contacts: erase the contact and everything still to send."""
        async with self._pool.acquire() as conn, conn.transaction():
            suppressed = await self._store.erase(conn, candidate_id, self._clock.now())
        log.info("contact.erased", recipient_id=candidate_id, suppressed=suppressed)
        self._on_planned()

    async def on_establishment(self, conn: asyncpg.Connection, event: AnyEvent) -> bool:
        """Keep the establishment's name and tutor address."""
        if isinstance(event, ev.EstablishmentRegistered | ev.EstablishmentUpdated):
            await self._store.save_establishment(conn, event.data)
            if event.data.immersion_contact_email is not None:
                return (
                    await self._store.wake(
                        conn, event.data.id, RecipientKind.ESTABLISHMENT, self._clock.now()
                    )
                    > 0
                )
        return False

    async def on_slot(self, conn: asyncpg.Connection, event: AnyEvent) -> bool:
        """Keep the immersion slot's essentials."""
        if isinstance(event, ev.ImmersionSlotOffered | ev.ImmersionSlotUpdated | ev.ImmersionSlotClosed):
            await self._store.save_slot(conn, event.data)
        return False

    async def on_match(self, conn: asyncpg.Connection, event: AnyEvent) -> bool:
        """MatchFound plans one row per consented channel; MatchWithdrawn suppresses what is unsent."""
        now = self._clock.now()
        if isinstance(event, ev.MatchFound):
            contact = await self._store.get_contact(conn, event.data.candidate_id)
            added = await self._store.plan(conn, plan_match(event.data, contact, now, self._policy), now)
            return added > 0
        if isinstance(event, ev.MatchWithdrawn):
            await self._store.withdraw(
                conn,
                recipient_id=event.data.candidate_id,
                purposes=(NotificationPurpose.MATCH, NotificationPurpose.URGENT_SHIFT),
                about_id=event.data.offer_id,
                now=now,
            )
            return True
        return False

    async def on_booking(self, conn: asyncpg.Connection, event: AnyEvent) -> bool:
        """Booked: candidate, host tutor, reminder. Refused: candidate. Cancelled: unsent ones withdrawn."""
        now = self._clock.now()
        if isinstance(event, ev.ImmersionBooked):
            data = event.data
            contact = await self._store.get_contact(conn, data.candidate_id)
            slot = await self._store.slot_snapshot(conn, data.slot_id, data.places_left)
            rows = plan_booking(data, contact, slot, booked_at=event.time, now=now, policy=self._policy)
            return await self._store.plan(conn, rows, now) > 0
        if isinstance(event, ev.ImmersionRefused):
            data_r = event.data
            contact = await self._store.get_contact(conn, data_r.candidate_id)
            slot = await self._store.slot_snapshot(conn, data_r.slot_id, None)
            return await self._store.plan(conn, plan_refusal(data_r, contact, slot, now), now) > 0
        if isinstance(event, ev.ImmersionCancelled):
            return await self._store.withdraw_related(conn, event.data.request_id, BOOKING_PURPOSES, now) > 0
        return False
