"""Retention of the notifications database: finished notifications of long ago go, open ones stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from vocation_notifications.adapters.postgres.outbox import FINISHED_NOTIFICATIONS
from vocation_notifications.app import MIGRATIONS
from vocation_shared.postgres import create_pool
from vocation_shared.postgres.retention import PROCESSED_EVENTS, Retention

pytestmark = pytest.mark.integration

NOW = datetime(2027, 6, 1, tzinfo=UTC)


async def test_notifications_finished_long_ago_are_deleted_and_open_ones_kept(fresh_database: str) -> None:
    async with create_pool(fresh_database, migrations=[("notifications", MIGRATIONS)]) as pool:
        rows = [
            ("sent", 500),
            ("suppressed", 500),
            ("failed", 500),
            ("digested", 500),
            ("pending", 500),  # still to send (a retry far away): never deleted
            ("held", 500),
            ("sent", 30),  # recent
        ]
        for n, (state, days) in enumerate(rows):
            await pool.execute(
                """
                INSERT INTO outbox (id, recipient_id, recipient_kind, channel, purpose, about_id, state,
                                    not_before, created_at)
                VALUES ($1, 'cand', 'candidate', 'email', 'match', $2, $3, $4, $4)
                """,
                uuid.uuid4(),
                f"vac-{n}",
                state,
                NOW - timedelta(days=days),
            )
        retention = Retention(
            pool, [PROCESSED_EVENTS, FINISHED_NOTIFICATIONS], timedelta(days=400), now=lambda: NOW
        )
        assert await retention.run_once() == {"processed_events": 0, "outbox": 4}
        left = await pool.fetch("SELECT state FROM outbox ORDER BY about_id")
        assert [r["state"] for r in left] == ["pending", "held", "sent"]
