"""Migration 0007 and the start-up step: the ledgers keep a candidate's pseudonym, not their id."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from vocation_events.adapters.archive_store import pseudonymize_erasures
from vocation_events.app import MIGRATIONS
from vocation_shared.postgres.migrations import apply_migrations, load_migrations
from vocation_shared.pseudonyms import Pseudonymizer

pytestmark = pytest.mark.integration

PSEUDONYMS = Pseudonymizer("a-pseudonym-key-for-this-test-only-0123456789")


async def test_erasures_recorded_before_get_their_pseudonym_and_forget_the_id_once_applied(
    fresh_database: str,
) -> None:
    migrations = load_migrations("events", Path(MIGRATIONS))
    conn = await asyncpg.connect(fresh_database)
    try:
        await apply_migrations(conn, [m for m in migrations if m.version < 7])
        await conn.execute(
            """
            INSERT INTO ingested_events (source, event_id, type, subject, partner)
            VALUES ('urn:partner:a', 'e1', 'fr.vocation.candidate.registered.v1', 'cand-applied', 'a');
            INSERT INTO erasures (candidate_id, source, event_id, applied_at)
            VALUES ('cand-applied', 'urn:partner:a', 'bye-1', now()), ('cand-pending', 'urn:partner:a', 'bye-2', NULL);
            """
        )
        await apply_migrations(conn, migrations)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=2)
    assert pool is not None
    try:
        assert await pseudonymize_erasures(pool, PSEUDONYMS) == 2
        assert await pseudonymize_erasures(pool, PSEUDONYMS) == 0, "done once"
        rows = await pool.fetch("SELECT candidate_pseudonym, candidate_id FROM erasures ORDER BY event_id")
        assert [tuple(r) for r in rows] == [
            (PSEUDONYMS.candidate("cand-applied"), None),  # applied: the pseudonym only
            (PSEUDONYMS.candidate("cand-pending"), "cand-pending"),  # the eraser still needs the id
        ]
        columns = await pool.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'ingested_events'"
        )
        assert "subject" not in {c[0] for c in columns}, "idempotency keeps (source, id), no subject"
        dump = await pool.fetchval("SELECT string_agg(t::text, ' ') FROM ingested_events t")
        assert "cand-applied" not in dump
    finally:
        await pool.close()
