"""Webhooks: subscriptions in PostgreSQL, the consumer queuing deliveries, the sender POSTing them.

The consumer (group `events-webhooks`) reads the subscribable topics and queues one delivery per
event and matching subscription, in the same order, idempotently (a redelivered record queues
nothing twice). The sender claims due deliveries (never one whose entity has an earlier delivery
still pending for the same subscription: a partner sees an entity's events in order), POSTs the
CloudEvent as it is on the topic, signed, and records the answer: 2xx delivered; anything else
retried with doubling delays, then `failed` (visible in `vocation partners subscriptions`, and
`vocation partners redeliver` queues them again). At least once: a crash between the partner's
2xx and its record sends it again, with the same `webhook-id` (the CloudEvent id).

Webhooks cannot reach the inside: the sender's transport resolves the host when it connects,
refuses internal addresses (`core.webhooks.refused_address`, minus the operator's allowed networks)
and connects to the very address it checked (no DNS rebinding between check and connection; TLS
still checks the certificate against the host name). A refused delivery fails at once, with the
reason stored on it. Subscription secrets are stored sealed with the contacts keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpcore
import httpx
import orjson
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from vocation_shared.contracts.producers import forged_reason
from vocation_shared.logs import get_logger
from vocation_shared.postgres.retention import Expiry
from vocation_shared.sealing import ContactCipher, ContactKeyError

from vocation_events.adapters.raw_batches import subscribe_raw_batches
from vocation_events.core.webhooks import (
    SUBSCRIBABLE_TOPICS,
    Network,
    Subscription,
    SubscriptionError,
    new_secret,
    outgoing_body,
    refused_address,
    retry_delay_s,
    signature,
)

log = get_logger(__name__)

FINISHED_DELIVERIES = Expiry(
    "webhook_deliveries",
    "created_at",
    "state <> 'pending' OR subscription_id IN (SELECT id FROM webhook_subscriptions WHERE revoked_at IS NOT NULL)",
)
"""Deliveries done, given up, or of a stopped subscription, long ago: deleted with the retention."""

CACHE_S = 5.0
"""How long the consumer trusts its list of active subscriptions (a new one starts within that)."""


SECRET_FIELD = "webhook_secret"  # noqa: S105 - the sealed column's name in the associated data
RESOLVE_TIMEOUT_S = 10.0


class RefusedTarget(Exception):
    """A webhook's host is, or resolves to, an address webhooks may not reach: never retried."""


class AddressGuard:
    """Resolves a webhook's host and checks every address it has against the rules."""

    def __init__(self, allowed: Sequence[Network] = ()) -> None:
        self._allowed = tuple(allowed)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses, each one allowed; `RefusedTarget` if any is not, `OSError` if none.

        Every address must pass, not only the first: a name answering a public and an internal
        address would otherwise reach the inside on the second try.
        """
        try:
            found: list[str] = [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
                RESOLVE_TIMEOUT_S,
            )
            found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not found:
            raise OSError(f"{host} has no address")
        for address in found:
            reason = refused_address(ipaddress.ip_address(address.split("%", 1)[0]), self._allowed)
            if reason is not None:
                raise RefusedTarget(f"{host} → {reason}")
        return found

    async def check_url(self, url: str) -> str | None:
        """At subscription time: `SubscriptionError` when the URL's host is refused.

        A host that does not resolve now is accepted with a warning (returned): a partner may
        subscribe before its DNS is live, and every delivery checks the address again anyway.
        """
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            await self.addresses(parts.hostname or "", port)
        except RefusedTarget as exc:
            raise SubscriptionError(
                f"webhooks may not reach internal addresses: {exc}"
                " (an operator may allow a development network with VOCATION_WEBHOOK_ALLOWED_NETWORKS)"
            ) from exc
        except (OSError, TimeoutError) as exc:
            return (
                f"{parts.hostname} does not resolve now ({type(exc).__name__}); each delivery checks it again"
            )
        return None


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to checked addresses: resolution, check and connection in one place."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._guard.addresses(host, port)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc!r}") from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedTarget("a Unix socket is not a webhook target")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(guard: AddressGuard, limits: httpx.Limits | None = None) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go only to addresses `guard` checked, never via a proxy.

    The host name stays in the request (Host header, TLS SNI and certificate check); only the
    connection is pinned to the address resolved and checked at that moment.
    """
    limits = limits or httpx.Limits()
    transport = httpx.AsyncHTTPTransport(trust_env=False, limits=limits)
    # httpx builds its pool without a hook for the network backend: the pool is replaced.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_GuardedBackend(guard),
    )
    return transport


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery claimed for one attempt."""

    seq: int
    event_id: str
    attempts: int
    body: bytes
    url: str
    secret: str
    """As stored: sealed (`PostgresWebhooks.secret` opens it)."""
    subscription_id: str


class PostgresWebhooks:
    """Subscriptions and deliveries in the events database."""

    def __init__(self, pool: asyncpg.Pool, cipher: ContactCipher | None = None) -> None:
        self._pool = pool
        self._cipher = cipher or ContactCipher()

    def _subscription(self, row: asyncpg.Record) -> Subscription:
        secret = self.secret(row["id"], row["secret"])
        return Subscription(row["id"], row["partner"], row["url"], frozenset(row["types"]), secret)

    def secret(self, subscription_id: str, stored: str) -> str:
        """A subscription's signing secret from its stored form (sealed, or clear from before)."""
        opened = self._cipher.open(stored, subscription_id, SECRET_FIELD)
        assert opened is not None
        return opened

    async def subscribe(self, partner: str, url: str, types: frozenset[str]) -> Subscription:
        """A new subscription of a known partner, with a fresh secret (stored sealed)."""
        subscription = Subscription("sub_" + secrets.token_hex(8), partner, url, types, new_secret())
        await self._pool.execute(
            "INSERT INTO webhook_subscriptions (id, partner, url, types, secret) VALUES ($1, $2, $3, $4, $5)",
            subscription.id,
            partner,
            url,
            sorted(types),
            self._cipher.seal(subscription.secret, subscription.id, SECRET_FIELD),
        )
        return subscription

    async def unsubscribe(self, subscription_id: str) -> bool:
        """Stop a subscription and drop its pending deliveries; False if unknown or stopped already."""
        async with self._pool.acquire() as conn, conn.transaction():
            status: str = await conn.execute(
                "UPDATE webhook_subscriptions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
                subscription_id,
            )
            if not status.endswith(" 1"):
                return False
            await conn.execute(
                "DELETE FROM webhook_deliveries WHERE subscription_id = $1 AND state = 'pending'",
                subscription_id,
            )
        return True

    async def active(self) -> list[Subscription]:
        """Subscriptions that receive: not stopped, of a partner not revoked."""
        rows = await self._pool.fetch(
            """
            SELECT s.* FROM webhook_subscriptions s JOIN partners p ON p.name = s.partner
            WHERE s.revoked_at IS NULL AND p.revoked_at IS NULL
            """
        )
        return [self._subscription(r) for r in rows]

    async def listing(self, partner: str | None = None) -> list[dict[str, Any]]:
        """Every subscription (of `partner`), with its deliveries counted by state."""
        rows = await self._pool.fetch(
            """
            SELECT s.id, s.partner, s.url, s.types, s.created_at, s.revoked_at,
                   count(d.seq) FILTER (WHERE d.state = 'pending') AS pending,
                   count(d.seq) FILTER (WHERE d.state = 'delivered') AS delivered,
                   count(d.seq) FILTER (WHERE d.state = 'failed') AS failed,
                   (array_agg(d.last_error ORDER BY d.seq DESC) FILTER (WHERE d.last_error IS NOT NULL))[1]
                       AS last_error
            FROM webhook_subscriptions s LEFT JOIN webhook_deliveries d ON d.subscription_id = s.id
            WHERE $1::text IS NULL OR s.partner = $1
            GROUP BY s.id ORDER BY s.partner, s.created_at
            """,
            partner,
        )
        return [dict(r) for r in rows]

    async def redeliver(self, subscription_id: str) -> int:
        """Queue a subscription's failed deliveries again, now; how many."""
        status = await self._pool.execute(
            """
            UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_at = now()
            WHERE subscription_id = $1 AND state = 'failed'
            """,
            subscription_id,
        )
        return int(status.rsplit(" ", 1)[-1])

    async def enqueue(self, rows: list[tuple[str, str, str, str, str, bytes]]) -> int:
        """Queue deliveries (subscription, source, event id, subject, type, body), in order, once each."""
        if not rows:
            return 0
        columns = list(zip(*rows, strict=True))
        status = await self._pool.execute(
            """
            INSERT INTO webhook_deliveries (subscription_id, source, event_id, subject, type, body)
            SELECT subscription_id, source, event_id, subject, type, body
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[])
                WITH ORDINALITY AS r(subscription_id, source, event_id, subject, type, body, n)
            ORDER BY n
            ON CONFLICT (subscription_id, source, event_id) DO NOTHING
            """,
            *[list(c) for c in columns],
        )
        return int(status.rsplit(" ", 1)[-1])

    async def claim(self, limit: int, lease_s: float) -> list[Due]:
        """Due deliveries, each the earliest pending one of its entity for its subscription."""
        rows = await self._pool.fetch(
            """
            WITH due AS (
                SELECT d.seq FROM webhook_deliveries d
                JOIN webhook_subscriptions s ON s.id = d.subscription_id AND s.revoked_at IS NULL
                JOIN partners p ON p.name = s.partner AND p.revoked_at IS NULL
                WHERE d.state = 'pending' AND d.next_at <= now()
                  AND NOT EXISTS (
                      SELECT 1 FROM webhook_deliveries e
                      WHERE e.subscription_id = d.subscription_id AND e.subject = d.subject
                        AND e.state = 'pending' AND e.seq < d.seq)
                ORDER BY d.seq LIMIT $1
                FOR UPDATE OF d SKIP LOCKED
            )
            UPDATE webhook_deliveries w
            SET attempts = w.attempts + 1, next_at = now() + make_interval(secs => $2)
            FROM due, webhook_subscriptions s
            WHERE w.seq = due.seq AND s.id = w.subscription_id
            RETURNING w.seq, w.event_id, w.attempts, w.body, s.id, s.url, s.secret
            """,
            limit,
            lease_s,
        )
        return [
            Due(r["seq"], r["event_id"], r["attempts"], r["body"], r["url"], r["secret"], r["id"])
            for r in rows
        ]

    async def delivered(self, seq: int) -> None:
        """The partner answered 2xx."""
        await self._pool.execute(
            "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = now(), last_error = NULL "
            "WHERE seq = $1",
            seq,
        )

    async def attempt_failed(self, seq: int, error: str, retry_in_s: float | None) -> None:
        """Try again in `retry_in_s`, or give up (`failed`) when None."""
        await self._pool.execute(
            """
            UPDATE webhook_deliveries
            SET last_error = $2,
                state = CASE WHEN $3::float8 IS NULL THEN 'failed' ELSE 'pending' END,
                next_at = now() + make_interval(secs => coalesce($3::float8, 0))
            WHERE seq = $1
            """,
            seq,
            error[:300],
            retry_in_s,
        )


def _fields(value: bytes) -> tuple[str, str, str, str] | None:
    """(source, id, subject, type) of a CloudEvent's JSON, or None when it is not one."""
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    found = tuple(document.get(k) for k in ("source", "id", "subject", "type"))
    return found if all(isinstance(v, str) for v in found) else None  # type: ignore[return-value]


class WebhookFanOut:
    """The consumer: each event of a subscribable topic queued for every subscription of its type."""

    def __init__(self, store: PostgresWebhooks, group_id: str) -> None:
        self._store = store
        self._group_id = group_id
        self._subscriptions: list[Subscription] = []
        self._fetched_at = -CACHE_S

    def subscribe(self, broker: KafkaBroker) -> None:
        """One batch subscriber on the subscribable topics, committing once a batch is queued."""

        subscribe_raw_batches(
            broker,
            [str(t) for t in SUBSCRIBABLE_TOPICS],
            group_id=self._group_id,
            handle=self.process,
            title=f"{self._group_id}:webhooks",
            offset_reset="latest",
        )

    async def _active(self) -> list[Subscription]:
        if time.monotonic() - self._fetched_at >= CACHE_S:
            self._subscriptions = await self._store.active()
            self._fetched_at = time.monotonic()
        return self._subscriptions

    async def process(self, records: Iterable[ConsumerRecord[bytes, bytes]]) -> int:
        """Queue the deliveries of a fetched batch, in order; how many were new."""
        records = list(records)
        if not records:
            return 0
        subscriptions = await self._active()
        if not subscriptions:
            return 0
        rows: list[tuple[str, str, str, str, str, bytes]] = []
        for record in records:
            if record.value is None:
                continue  # a tombstone: nothing to announce
            fields = _fields(record.value)
            if fields is None:
                continue  # not an event: the archive's group dead-letters it with the reason
            source, event_id, subject, event_type = fields
            if forged_reason(event_type, source) is not None:
                continue  # e.g. a partner fact under a service's source: the consumers dead-letter it
            wanted = [s for s in subscriptions if event_type in s.types]
            if wanted:
                body = outgoing_body(event_type, record.value)
                rows += [(s.id, source, event_id, subject, event_type, body) for s in wanted]
        return await self._store.enqueue(rows)


class WebhookSender:
    """Sends due deliveries until stopped; failures are retried with doubling delays."""

    def __init__(
        self,
        store: PostgresWebhooks,
        *,
        timeout_s: float = 10.0,
        retry_initial_s: float = 30.0,
        retry_max_s: float = 3600.0,
        max_attempts: int = 12,
        concurrency: int = 8,
        client: httpx.AsyncClient | None = None,
        guard: AddressGuard | None = None,
    ) -> None:
        self._store = store
        self._timeout_s = timeout_s
        self._retry = (retry_initial_s, retry_max_s)
        self._max_attempts = max_attempts
        self._slots = asyncio.Semaphore(concurrency)
        self._client = client or httpx.AsyncClient(
            timeout=timeout_s,
            follow_redirects=False,
            trust_env=False,
            transport=guarded_transport(guard or AddressGuard()),
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def run(self, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        """Loop: send what is due, or wait `poll_s`; a failing pass is logged and the loop goes on."""
        while not stop.is_set():
            try:
                sent = await self.run_once()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("webhooks.database_unavailable", error=repr(exc))
                sent = 0
            except Exception:
                log.exception("webhooks.loop_bug")
                sent = 0
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_s)

    async def run_once(self, limit: int = 50) -> int:
        """Claim and send one batch of due deliveries; how many."""
        due = await self._store.claim(limit, self._timeout_s + 30)
        await asyncio.gather(*(self._send(d) for d in due))
        return len(due)

    async def _send(self, due: Due) -> None:
        timestamp = int(time.time())
        try:
            secret = self._store.secret(due.subscription_id, due.secret)
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
                answer = await self._client.post(due.url, content=due.body, headers=headers)
            except RefusedTarget as exc:
                await self._refused(due, str(exc))
                return
            except httpx.HTTPError as exc:
                await self._failed(due, f"{type(exc).__name__}: {exc}"[:300])
                return
        if 200 <= answer.status_code < 300:
            await self._store.delivered(due.seq)
        else:
            await self._failed(due, f"HTTP {answer.status_code}")

    async def _refused(self, due: Due, reason: str) -> None:
        """The target is internal: the delivery fails now, with the reason (retrying cannot help)."""
        await self._store.attempt_failed(due.seq, f"refused: {reason}", None)
        log.warning("webhook.refused", event_id=due.event_id, reason=reason)

    async def _failed(self, due: Due, error: str) -> None:
        retry = None if due.attempts >= self._max_attempts else retry_delay_s(due.attempts, *self._retry)
        await self._store.attempt_failed(due.seq, error, retry)
        log.warning(
            "webhook.attempt_failed",
            event_id=due.event_id,
            attempts=due.attempts,
            error=error,
            gave_up=retry is None,
        )
