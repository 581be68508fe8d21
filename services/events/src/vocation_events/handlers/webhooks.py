"""Webhooks: queuing a delivery per event and subscription (`FanOut`), then POSTing them (`Deliver`).

The fan-out reads the subscribable topics and queues one delivery per event and matching
subscription, in the same order, idempotently (a redelivered record queues nothing twice). An
application goes only to the subscriptions of the partner that owns its vacancy when the fan-out
reads it (the owners are read for each batch, so a transfer counts from the next one). The
delivery claims due deliveries (never one whose entity has an earlier delivery still pending for
the same subscription: a partner sees an entity's events in order), POSTs the CloudEvent as it is
on the topic, signed, and records the answer: 2xx delivered; anything else retried after the
shared `Backoff`'s delays (doubling, with jitter: partners that failed together are not all
retried at the same second), then `failed` (`vocation partners redeliver` queues them again). At least once: a crash
between the partner's 2xx and its record sends it again, with the same `webhook-id`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

import orjson
from vocation_shared.backoff import Backoff
from vocation_shared.contracts.producers import forged_reason
from vocation_shared.logs import get_logger
from vocation_shared.sealing import ContactKeyError

from vocation_events.core.webhooks import Subscription, outgoing_body, owned_offer, signature
from vocation_events.ports import (
    DeliveryRow,
    Due,
    RawRecord,
    RefusedTarget,
    UnitsOfWork,
    WebhookClient,
    WebhookDeliveries,
    WebhookUnreachable,
)

log = get_logger(__name__)

CACHE_S = 5.0
"""How long the fan-out trusts its list of active subscriptions (a new one starts within that)."""
DEFAULT_BACKOFF = Backoff(initial_s=30.0, max_s=3600.0, max_attempts=12)
"""After a failed attempt: 15-30 s, doubling (with jitter) up to an hour; `failed` after 12 attempts."""


def _fields(value: bytes) -> tuple[str, str, str, str, str | None] | None:
    """(source, id, subject, type, owned offer) of a CloudEvent's JSON, or None when it is not one.

    The owned offer is the vacancy whose owner alone receives the event (`owned_offer`), or None.
    """
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    source, event_id, subject, event_type = (document.get(k) for k in ("source", "id", "subject", "type"))
    if not (isinstance(source, str) and isinstance(event_id, str) and isinstance(subject, str)):
        return None
    if not isinstance(event_type, str):
        return None
    return source, event_id, subject, event_type, owned_offer(event_type, document)


class FanOut:
    """Each event of a subscribable topic queued for every subscription of its type."""

    def __init__(
        self,
        deliveries: WebhookDeliveries,
        clock: Callable[[], float] = time.monotonic,
        units: UnitsOfWork | None = None,
    ) -> None:
        self._deliveries = deliveries
        self._clock = clock
        self._units = units
        self._subscriptions: list[Subscription] = []
        self._fetched_at = -CACHE_S

    async def _active(self) -> list[Subscription]:
        if self._clock() - self._fetched_at >= CACHE_S:
            self._subscriptions = await self._deliveries.active()
            self._fetched_at = self._clock()
        return self._subscriptions

    async def process(self, records: Iterable[RawRecord]) -> int:
        """Queue the deliveries of a fetched batch, in order; how many were new."""
        records = list(records)
        if not records:
            return 0
        subscriptions = await self._active()
        if not subscriptions:
            return 0
        events: list[tuple[tuple[str, str, str, str, str | None], bytes]] = []
        for record in records:
            if record.value is None:
                continue  # a tombstone: nothing to announce
            fields = _fields(record.value)
            if fields is None:
                continue  # not an event: the archive's group dead-letters it with the reason
            if forged_reason(fields[3], fields[0]) is not None:
                continue  # e.g. a partner fact under a service's source: the consumers dead-letter it
            events.append((fields, record.value))
        offers = {offer for (*_, offer), _value in events if offer}
        owners = await self._deliveries.owners_of(offers) if offers else {}
        if offers and self._units is not None:
            # An erased candidate's application read late is sent to no one (the eraser deleted the rest).
            candidates = {subject for (_, _, subject, _, offer), _value in events if offer is not None}
            async with self._units() as uow:
                erased = await uow.erasures.erased_among(candidates)
            events = [e for e in events if e[0][4] is None or e[0][2] not in erased]
        rows: list[DeliveryRow] = []
        for (source, event_id, subject, event_type, offer), value in events:
            wanted = [
                s
                for s in subscriptions
                if event_type in s.types
                and (offer is None or (offer in owners and owners[offer] == s.source))
            ]
            if wanted:
                body = outgoing_body(event_type, value)
                rows += [(s.id, source, event_id, subject, event_type, body) for s in wanted]
        return await self._deliveries.enqueue(rows)


class Deliver:
    """Sends due deliveries, `concurrency` at a time; a failure is retried later, then given up."""

    def __init__(
        self,
        deliveries: WebhookDeliveries,
        client: WebhookClient,
        *,
        timeout_s: float = 10.0,
        backoff: Backoff = DEFAULT_BACKOFF,
        concurrency: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._deliveries = deliveries
        self._client = client
        self._lease_s = timeout_s + 30
        self._backoff = backoff
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock

    async def run_once(self, limit: int = 50) -> int:
        """Claim and send one batch of due deliveries; how many."""
        due = await self._deliveries.claim(limit, self._lease_s)
        await asyncio.gather(*(self._send(d) for d in due))
        return len(due)

    async def _send(self, due: Due) -> None:
        timestamp = int(self._clock())
        try:
            secret = self._deliveries.secret(due.subscription_id, due.secret)
        except ContactKeyError as exc:
            await self._failed(due, f"the signing secret does not open: {exc}")
            return
        headers = {
            "content-type": "application/cloudevents+json; charset=utf-8",
            "webhook-id": due.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, due.event_id, timestamp, due.body),
            "user-agent": "vocation-webhooks/1",
        }
        async with self._slots:
            try:
                status = await self._client.post(due.url, due.body, headers)
            except RefusedTarget as exc:
                await self._refused(due, str(exc))
                return
            except WebhookUnreachable as exc:
                await self._failed(due, str(exc)[:300])
                return
        if 200 <= status < 300:
            await self._deliveries.delivered(due.seq)
        else:
            await self._failed(due, f"HTTP {status}")

    async def _refused(self, due: Due, reason: str) -> None:
        """The target is internal: the delivery fails now, with the reason (retrying cannot help)."""
        await self._deliveries.attempt_failed(due.seq, f"refused: {reason}", None)
        log.warning("webhook.refused", event_id=due.event_id, reason=reason)

    async def _failed(self, due: Due, error: str) -> None:
        retry = None if self._backoff.exhausted(due.attempts) else self._backoff.delay(due.attempts)
        await self._deliveries.attempt_failed(due.seq, error, retry)
        log.warning(
            "webhook.attempt_failed",
            event_id=due.event_id,
            attempts=due.attempts,
            error=error,
            gave_up=retry is None,
        )
