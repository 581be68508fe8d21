"""Withdrawing consent from a STOP reply or an unsubscribe link: publish the new state, then stop sending."""

from __future__ import annotations

import asyncpg
from vocation_shared.contracts import events as ev
from vocation_shared.contracts.vocabulary import Channel, ConsentOrigin
from vocation_shared.kafka import EventPublisher
from vocation_shared.logs import get_logger

from vocation_notifications.adapters.metrics import Metrics
from vocation_notifications.adapters.store import Store
from vocation_notifications.core.consent import ConsentMark, opt_out_state
from vocation_notifications.ports import Clock

log = get_logger(__name__)


class ConsentService:
    """Turns an opt-out into a suppression and a `consent-updated` event (full contact state + the change).

    The event is published first (acks=all: the topic is the source of truth, a replay must not
    bring the consent back), then the suppression is recorded here at once so that sending stops
    even before our own event comes back through the consumer (the same mark again: idempotent).
    The published state keeps the partner's version (`core.consent.opt_out_state`): the
    partner's next contact change is newer and applies, the channel staying off.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: Store,
        publisher: EventPublisher,
        clock: Clock,
        source: str,
        metrics: Metrics,
    ) -> None:
        self._pool = pool
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._source = source
        self._metrics = metrics

    async def withdraw(self, candidate_id: str, channel: Channel, origin: ConsentOrigin) -> bool:
        """Suppress `channel`; False when there was nothing to do (unknown contact, already suppressed).

        Also when the channel is not in use today: a partner's later state claiming it keeps it off.
        """
        async with self._pool.acquire() as conn:
            contact = await self._store.get_contact(conn, candidate_id)
            if contact is None:
                return False
            active = await self._store.suppressed_channels(conn, [candidate_id])
        if channel in active.get(candidate_id, {}):
            return False
        now = self._clock.now()
        data = opt_out_state(contact, channel, origin, now)
        await self._publisher.publish(ev.ConsentUpdated.build(data, source=self._source, time=now))
        mark = ConsentMark(candidate_id, channel, now, origin, lifts=False)
        async with self._pool.acquire() as conn, conn.transaction():
            await self._store.lock_contacts(conn, [candidate_id])
            await self._store.record_consent_marks(conn, [mark])
            await self._store.refresh_channels(conn, [candidate_id])
        self._metrics.consent_changes.labels(origin=str(origin)).inc()
        log.info("consent.withdrawn", recipient_id=candidate_id, channel=str(channel), origin=str(origin))
        return True

    async def stop_reply(self, phone: str) -> int:
        """A STOP reply from `phone`: withdraw SMS consent of every candidate at that number."""
        async with self._pool.acquire() as conn:
            candidates = await self._store.candidates_with_phone(conn, phone)
        done = 0
        for candidate_id in candidates:
            done += await self.withdraw(candidate_id, Channel.SMS, ConsentOrigin.SMS_STOP)
        return done
