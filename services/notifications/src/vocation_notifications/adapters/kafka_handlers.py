"""Kafka handlers: contacts and consent, read models, and the facts that plan notifications.

Every topic is consumed **per fetched batch** (`EventConsumer.subscribe_batch`): a batch's fresh
events are applied in one transaction with their processed marks (`mark_many_processed`; a
redelivered or replayed event is skipped). `matches` and `candidate-contacts` are applied with a
few multi-row statements per batch (`core.batches` decides, in the events' order); the read
models and bookings (a few events) one event after the other, still in one transaction. If a
batch keeps failing, the consumer retries its events one by one and dead-letters only the faulty
one. A tombstone on `candidate-contacts` is applied in its place in the order: the events before
it are committed first (`EventConsumer.subscribe_batch(on_tombstone=...)`). Handlers publish nothing themselves: the facts
they cause are queued in `outcome_events` and published by the worker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import asyncpg
from vocation_shared.contracts import events as ev
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.events import AnyEvent, types_on
from vocation_shared.contracts.topics import Topic
from vocation_shared.contracts.vocabulary import Channel, NotificationPurpose
from vocation_shared.kafka import EventConsumer
from vocation_shared.kafka.consumer import BatchHandler
from vocation_shared.logs import get_logger
from vocation_shared.postgres.idempotency import mark_many_processed

from vocation_notifications.adapters.metrics import Metrics
from vocation_notifications.adapters.store import Store
from vocation_notifications.core.batches import distinct_events, latest_contacts, plan_match_steps
from vocation_notifications.core.consent import SERVICE_ORIGINS, mark_of, opt_out_state, stated_here
from vocation_notifications.core.model import RecipientKind
from vocation_notifications.core.planning import plan_booking, plan_refusal
from vocation_notifications.core.policy import Policy
from vocation_notifications.ports import Clock

log = get_logger(__name__)
HOUR = timedelta(hours=1)

BOOKING_PURPOSES = (
    NotificationPurpose.IMMERSION_BOOKED,
    NotificationPurpose.IMMERSION_BOOKED_HOST,
    NotificationPurpose.IMMERSION_REMINDER,
)
MATCH_PURPOSES = (NotificationPurpose.MATCH, NotificationPurpose.URGENT_SHIFT)


class Handlers:
    """The service's reactions to events: per batch, in one transaction with the processed marks."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: Store,
        clock: Clock,
        policy: Policy,
        group_prefix: str,
        on_planned: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._pool = pool
        self._store = store
        self._clock = clock
        self._policy = policy
        self._prefix = group_prefix
        self._on_planned = on_planned or (lambda: None)
        self._metrics = metrics or Metrics()

    def group(self, topic: Topic) -> str:
        """The consumer group (and processed-events consumer name) for a topic."""
        return f"{self._prefix}-{topic}"

    def register(self, consumer: EventConsumer, max_records: int = 500) -> None:
        """Subscribe every handler."""
        consumer.subscribe_batch(
            Topic.CANDIDATE_CONTACTS,
            group_id=self.group(Topic.CANDIDATE_CONTACTS),
            handle_batch=self.on_contacts,
            on_tombstone=self.on_contact_erased,
            accepts=types_on(Topic.CANDIDATE_CONTACTS),
            max_records=max_records,
        )
        consumer.subscribe_batch(
            Topic.ESTABLISHMENTS,
            group_id=self.group(Topic.ESTABLISHMENTS),
            handle_batch=self._one_by_one(Topic.ESTABLISHMENTS, self.on_establishment),
            max_records=max_records,
        )
        consumer.subscribe_batch(
            Topic.IMMERSION_SLOTS,
            group_id=self.group(Topic.IMMERSION_SLOTS),
            handle_batch=self._one_by_one(Topic.IMMERSION_SLOTS, self.on_slot),
            max_records=max_records,
        )
        consumer.subscribe_batch(
            Topic.MATCHES,
            group_id=self.group(Topic.MATCHES),
            handle_batch=self.on_matches,
            on_tombstone=self.on_matches_erased,
            max_records=max_records,
        )
        consumer.subscribe_batch(
            Topic.IMMERSION_BOOKINGS,
            group_id=self.group(Topic.IMMERSION_BOOKINGS),
            handle_batch=self._one_by_one(Topic.IMMERSION_BOOKINGS, self.on_booking),
            accepts={ev.ImmersionBooked.TYPE, ev.ImmersionRefused.TYPE, ev.ImmersionCancelled.TYPE},
            max_records=max_records,
        )

    async def _fresh(
        self, conn: asyncpg.Connection, topic: Topic, events: Sequence[AnyEvent]
    ) -> list[AnyEvent]:
        """Mark the batch's events processed; the ones not seen before, once each, in order."""
        distinct = distinct_events(events)
        keys = [(e.source, self._store.processed_key(e.id)) for e in distinct]
        new = await mark_many_processed(conn, self.group(topic), keys)
        return [e for e, key in zip(distinct, keys, strict=True) if key in new]

    def _one_by_one(
        self, topic: Topic, apply: Callable[[asyncpg.Connection, AnyEvent], Awaitable[bool]]
    ) -> BatchHandler:
        """A batch handler applying each fresh event in order, all in one transaction."""

        async def handle(events: list[AnyEvent]) -> None:
            planned = False
            async with self._pool.acquire() as conn, conn.transaction():
                for event in await self._fresh(conn, topic, events):
                    planned = await apply(conn, event) or planned
            if planned:
                self._on_planned()

        return handle

    # --- contacts ---

    async def on_contacts(self, events: list[AnyEvent]) -> None:
        """ContactRegistered / ConsentUpdated: store each candidate's newest full state; wake what waited.

        A `consent-updated`'s change is remembered whatever its version (`core.consent.mark_of`): a
        withdrawal suppresses the channel, the candidate's own newer re-consent lifts it. A state
        claiming a suppressed channel is stored (its contact changes apply) with the channel kept
        off, and that is said (`contact.opt_out_kept`, `..._opt_out_kept_total`).
        """
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            fresh = await self._fresh(conn, Topic.CANDIDATE_CONTACTS, events)
            states = [e.data for e in fresh if isinstance(e, ev.ContactRegistered | ev.ConsentUpdated)]
            marks = [
                mark
                for e in fresh
                if isinstance(e, ev.ConsentUpdated) and (mark := mark_of(e.data, now)) is not None
            ]
            contacts = latest_contacts(states)
            ours = latest_contacts(states, stated_here_only=True)  # our opt-outs: fill a gap only
            touched = {c.candidate_id for c in contacts + ours} | {m.candidate_id for m in marks}
            # Contact rows first, then suppressions: the order an opt-out takes them in too.
            await self._store.lock_contacts(conn, touched)
            applied = await self._store.save_contacts(conn, contacts)
            applied_set = set(applied)
            filled = await self._store.add_missing_contacts(conn, ours)
            await self._store.record_consent_marks(conn, marks)
            kept_off = await self._store.refresh_channels(conn, touched)
            # A claim is "kept off" when the candidate's newest state read is a partner's (an
            # opt-out later in the same batch already says it all).
            newest_is_partner = {state.candidate_id: not stated_here(state) for state in states}
            claimed_off = {
                cid: off for cid, off in kept_off.items() if cid in applied_set and newest_is_partner.get(cid)
            }
            restated = await self._restate_opt_outs(conn, claimed_off, now)
            # What waited for these contacts is decided now, not at its next retry.
            woken = await self._store.wake_many(conn, applied + filled, RecipientKind.CANDIDATE, now)
        for candidate_id, off in sorted(claimed_off.items()):
            for channel in sorted(off):
                self._metrics.opt_out_kept.labels(channel=str(channel)).inc()
            log.warning(
                "contact.opt_out_kept",
                recipient_id=candidate_id,
                channels=sorted(str(c) for c in off),
                why="opted out; only the candidate's own newer consent lifts it",
            )
        log.info(
            "contacts.saved",
            events=len(events),
            fresh=len(fresh),
            candidates=len(contacts),
            applied=len(applied),
            filled=len(filled),
            consent_changes=len(marks),
            opt_outs_kept=len(claimed_off),
            opt_outs_restated=restated,
            woken=woken,
        )
        if applied or filled or marks:
            self._on_planned()

    async def _restate_opt_outs(
        self, conn: asyncpg.Connection, claimed_off: dict[str, frozenset[Channel]], now: datetime
    ) -> int:
        """Queue a `consent-updated` restating each STOP or unsubscribe a partner's state claimed back.

        The topic is compacted by candidate: its newest record is what a rebuild reads. After a
        partner's claim that record would say "SMS consented"; the restatement (published by the
        worker, like every fact of ours) makes it say the opt-out again. A withdrawal stated by a
        partner is the partner's own record and is not restated (the service may state only STOP
        and unsubscribe changes).
        """
        if not claimed_off:
            return 0
        ids = sorted(claimed_off)
        contacts = await self._store.get_contacts(conn, ids)
        suppressions = await self._store.suppressed_channels(conn, ids)
        events: list[AnyEvent] = []
        for candidate_id in ids:
            contact = contacts.get(candidate_id)
            for channel in sorted(claimed_off[candidate_id]):
                record = suppressions.get(candidate_id, {}).get(channel)
                if contact is None or record is None or record.suppressed_at is None:
                    continue
                if record.origin not in SERVICE_ORIGINS:
                    continue
                data = opt_out_state(contact, channel, record.origin, record.suppressed_at)
                events.append(self._store.events.opt_out_restated(data, now))
        await self._store.queue_events(conn, events)
        return len(events)

    async def on_contact_erased(self, candidate_id: str) -> None:
        """Tombstone on candidate-contacts: erase the contact and everything still to send."""
        async with self._pool.acquire() as conn, conn.transaction():
            suppressed = await self._store.erase(conn, candidate_id, self._clock.now())
        log.info("contact.erased", recipient_id=candidate_id, suppressed=suppressed)
        self._on_planned()

    async def on_matches_erased(self, candidate_id: str) -> None:
        """Tombstone on `matches` (matching's erasure, after every match of the candidate): erase again.

        The contact's tombstone comes on another topic and may be read first: a match read in
        between was planned for nobody. Erasing again here, after every match of the candidate,
        leaves none of it (idempotent; nothing happens for a candidate with no row here).
        """
        async with self._pool.acquire() as conn, conn.transaction():
            suppressed = await self._store.erase(conn, candidate_id, self._clock.now())
        log.info("matches.erased", recipient_id=candidate_id, suppressed=suppressed)
        self._on_planned()

    # --- read models ---

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

    # --- matches ---

    async def on_matches(self, events: list[AnyEvent]) -> None:
        """MatchFound plans one row per consented channel; MatchWithdrawn suppresses what is unsent.

        One transaction: the processed marks, the batch's contacts in one query, then per step
        (`core.batches.plan_match_steps`, almost always one) one multi-row insert and one update.
        """
        now = self._clock.now()
        added = withdrawn = 0
        async with self._pool.acquire() as conn, conn.transaction():
            fresh = await self._fresh(conn, Topic.MATCHES, events)
            facts: list[p.MatchFound | p.MatchWithdrawn] = []
            stale = 0
            for e in fresh:
                if isinstance(e, ev.MatchFound) and self._policy.too_old(e.time, now, urgent=e.data.urgent):
                    stale += 1  # a replay, or a long outage: old news is not told (a withdrawal is)
                elif isinstance(e, ev.MatchFound | ev.MatchWithdrawn):
                    facts.append(e.data)
            wanted = {f.candidate_id for f in facts if isinstance(f, p.MatchFound)}
            contacts = await self._store.get_contacts(conn, wanted) if wanted else {}
            steps = plan_match_steps(facts, contacts, now, self._policy)
            for step in steps:
                added += await self._store.plan_many(conn, step.rows, now)
                withdrawn += await self._store.withdraw_many(conn, step.withdrawals, MATCH_PURPOSES, now)
        log.info(
            "matches.planned",
            events=len(events),
            fresh=len(fresh),
            steps=len(steps),
            added=added,
            withdrawn=withdrawn,
            too_old=stale,
        )
        if stale:
            self._metrics.too_old.labels(kind="match").inc(stale)
            log.warning(
                "matches.too_old_to_tell", matches=stale, max_age_h=self._policy.notice_max_age / HOUR
            )
        if added or withdrawn:
            self._on_planned()

    # --- bookings ---

    async def on_booking(self, conn: asyncpg.Connection, event: AnyEvent) -> bool:
        """Booked: candidate, host tutor, reminder. Refused: candidate. Cancelled: unsent ones withdrawn."""
        now = self._clock.now()
        if isinstance(event, ev.ImmersionBooked | ev.ImmersionRefused) and self._policy.too_old(
            event.time, now
        ):
            self._metrics.too_old.labels(kind="booking").inc()
            log.warning(
                "booking.too_old_to_tell", request_id=event.data.request_id, event_time=event.time.isoformat()
            )
            return False
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
