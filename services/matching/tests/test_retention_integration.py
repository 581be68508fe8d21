"""Retention of the matching ledger: matches emitted before the horizon go, recent ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from vocation_matching.adapters.postgres.ledger import EMITTED_MATCHES
from vocation_matching.app import MIGRATIONS
from vocation_shared.postgres import create_pool
from vocation_shared.postgres.retention import Retention

pytestmark = pytest.mark.integration

NOW = datetime(2027, 6, 1, tzinfo=UTC)


async def test_matches_emitted_before_the_retention_are_deleted(fresh_database: str) -> None:
    async with create_pool(fresh_database, migrations=[("matching", MIGRATIONS)]) as pool:
        for offer_id, days in (("vac-old", 401), ("vac-recent", 399)):
            emitted = NOW - timedelta(days=days)
            await pool.execute(
                """
                INSERT INTO emitted_matches (candidate_id, offer_source, offer_id, offer_version, match_id,
                                             offer_kind, fingerprint, score, emitted_on, emitted_at)
                VALUES ('cand', 'vac', $1, 1, $1, 'vacancy', 'f', 80, $2, $3)
                """,
                offer_id,
                emitted.date(),
                emitted,
            )
        retention = Retention(pool, [EMITTED_MATCHES], timedelta(days=400), now=lambda: NOW)
        assert await retention.run_once() == {"emitted_matches": 1}
        assert await pool.fetchval("SELECT array_agg(offer_id) FROM emitted_matches") == ["vac-recent"]
