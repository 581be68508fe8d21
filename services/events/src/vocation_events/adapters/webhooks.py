"""Webhooks' adapters: subscriptions and deliveries in PostgreSQL, the guarded HTTP client, the consumer.

The use cases are in `handlers/webhooks.py`. Webhooks cannot reach the inside: the client's
transport resolves the host when it connects, refuses internal addresses
(`core.webhooks.refused_address`, minus the operator's allowed networks) and connects to the very
address it checked (no DNS rebinding between check and connection; TLS still checks the
certificate against the host name). A refused delivery fails at once, with the reason stored on it.
Subscription secrets are stored sealed with the contacts keys.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpcore
import httpx
from faststream.kafka import KafkaBroker
from vocation_shared.logs import get_logger
from vocation_shared.postgres.retention import Expiry
from vocation_shared.sealing import ContactCipher

from vocation_events.adapters.raw_batches import subscribe_raw_batches
from vocation_events.core.webhooks import (
    OWNER_ONLY_TYPES,
    SUBSCRIBABLE_TOPICS,
    Network,
    Subscription,
    SubscriptionError,
    new_secret,
    refused_address,
)
from vocation_events.handlers.webhooks import FanOut
from vocation_events.ports import DeliveryRow, Due, RefusedTarget, WebhookUnreachable

__all__ = ["AddressGuard", "HttpWebhookClient", "PostgresWebhooks", "RefusedTarget", "subscribe_fan_out"]

log = get_logger(__name__)

FINISHED_DELIVERIES = Expiry(
    "webhook_deliveries",
    "created_at",
    "state <> 'pending' OR subscription_id IN (SELECT id FROM webhook_subscriptions WHERE revoked_at IS NOT NULL)",
)
"""Deliveries done, given up, or of a stopped subscription, long ago: deleted with the retention."""

_OWNER_ONLY_SQL = ", ".join(f"'{t}'" for t in sorted(OWNER_ONLY_TYPES))
"""The applications' types as SQL literals: the predicate of migration 0008's partial index."""
SECRET_FIELD = "webhook_secret"  # noqa: S105 - the sealed column's name in the associated data
RESOLVE_TIMEOUT_S = 10.0


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


class PostgresWebhooks:
    """Subscriptions and deliveries in the events database."""

    def __init__(self, pool: asyncpg.Pool, cipher: ContactCipher | None = None) -> None:
        self._pool = pool
        self._cipher = cipher or ContactCipher()

    def _subscription(self, row: asyncpg.Record) -> Subscription:
        secret = self.secret(row["id"], row["secret"])
        return Subscription(
            row["id"], row["partner"], row["url"], frozenset(row["types"]), secret, row.get("partner_source")
        )

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
            SELECT s.*, p.source AS partner_source
            FROM webhook_subscriptions s JOIN partners p ON p.name = s.partner
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

    async def enqueue(self, rows: Sequence[DeliveryRow]) -> int:
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

    async def owners_of(self, vacancy_ids: Collection[str]) -> dict[str, str]:
        """The source that owns each of these vacancies now (an unowned one is absent)."""
        rows = await self._pool.fetch(
            "SELECT entity_id, owner FROM entity_owners WHERE kind = 'vacancy' AND entity_id = ANY($1::text[])",
            list(vacancy_ids),
        )
        return {row["entity_id"]: row["owner"] for row in rows}

    async def erase(self, candidate_ids: Sequence[str]) -> int:
        """Delete the deliveries of applications about these candidates, sent or not; how many."""
        status = await self._pool.execute(
            f"DELETE FROM webhook_deliveries WHERE subject = ANY($1::text[]) AND type IN ({_OWNER_ONLY_SQL})",
            list(candidate_ids),
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


class HttpWebhookClient:
    """The `WebhookClient` port over httpx: no redirects, no proxy, only to addresses `guard` allows."""

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        guard: AddressGuard | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._client = client or httpx.AsyncClient(
            timeout=timeout_s,
            follow_redirects=False,
            trust_env=False,
            transport=guarded_transport(guard or AddressGuard()),
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """The answer's status code; `RefusedTarget` for an internal address, `WebhookUnreachable` else."""
        try:
            answer = await self._client.post(url, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            raise WebhookUnreachable(f"{type(exc).__name__}: {exc}") from exc
        return answer.status_code

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


def subscribe_fan_out(broker: KafkaBroker, fan_out: FanOut, group_id: str) -> None:
    """One batch subscriber on the subscribable topics, committing once a batch is queued."""
    subscribe_raw_batches(
        broker,
        [str(t) for t in SUBSCRIBABLE_TOPICS],
        group_id=group_id,
        handle=fan_out.process,
        title=f"{group_id}:webhooks",
        offset_reset="latest",
    )
