"""Retention of the gateway's idempotency claims: a claim older than the horizon goes, a recent one stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from vocation_events.adapters.postgres import INGESTED_EVENTS
from vocation_events.adapters.webhooks import FINISHED_DELIVERIES
from vocation_events.app import MIGRATIONS
from vocation_shared.postgres import create_pool
from vocation_shared.postgres.retention import Retention

pytestmark = pytest.mark.integration

NOW = datetime(2027, 6, 1, tzinfo=UTC)


async def test_claims_older_than_the_retention_are_deleted(fresh_database: str) -> None:
    async with create_pool(fresh_database, migrations=[("events", MIGRATIONS)]) as pool:
        for event_id, days in (("old", 401), ("recent", 399)):
            await pool.execute(
                """
                INSERT INTO ingested_events (source, event_id, type, partner, accepted_at)
                VALUES ('urn:partner', $1, 'fr.vocation.vacancy.posted.v1', 'p', $2)
                """,
                event_id,
                NOW - timedelta(days=days),
            )
        retention = Retention(pool, [INGESTED_EVENTS], timedelta(days=400), now=lambda: NOW)
        assert await retention.run_once() == {"ingested_events": 1}
        assert await pool.fetchval("SELECT array_agg(event_id) FROM ingested_events") == ["recent"]


async def test_old_deliveries_go_unless_still_to_send_to_an_active_subscription(fresh_database: str) -> None:
    async with create_pool(fresh_database, migrations=[("events", MIGRATIONS)]) as pool:
        await pool.execute(
            "INSERT INTO partners (name, source, allowed_types, key_hash, key_hint) "
            "VALUES ('portail', 'urn:p', ARRAY['*'], '\\x00', 'k')"
        )
        await pool.execute(
            "INSERT INTO webhook_subscriptions (id, partner, url, types, secret, revoked_at) VALUES "
            "('active', 'portail', 'https://p/h', ARRAY['t'], 's', NULL), "
            "('stopped', 'portail', 'https://p/h', ARRAY['t'], 's', now())"
        )
        old = NOW - timedelta(days=401)
        for subscription, event_id, state in (
            ("active", "delivered", "delivered"),
            ("active", "failed", "failed"),
            ("active", "waiting", "pending"),
            ("stopped", "orphan", "pending"),
        ):
            await pool.execute(
                "INSERT INTO webhook_deliveries (subscription_id, source, event_id, subject, type, body, state, created_at) "
                "VALUES ($1, 'urn:p', $2, 's', 't', '\\x7b7d', $3, $4)",
                subscription,
                event_id,
                state,
                old,
            )
        retention = Retention(pool, [FINISHED_DELIVERIES], timedelta(days=400), now=lambda: NOW)
        assert await retention.run_once() == {"webhook_deliveries": 3}
        assert await pool.fetchval("SELECT array_agg(event_id) FROM webhook_deliveries") == ["waiting"]
