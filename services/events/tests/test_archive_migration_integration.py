"""Migration 0006 on an archive filled before it: every row names its candidate, old erasures count as applied."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from vocation_events.app import MIGRATIONS
from vocation_shared.postgres import create_pool

pytestmark = pytest.mark.integration


async def test_rows_archived_before_get_their_candidate_and_stay_append_only(
    fresh_database: str, tmp_path: Path
) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if int(path.name[:4]) < 6:
            shutil.copy(path, before / path.name)
    async with create_pool(fresh_database, migrations=[("events", before)], max_size=2) as pool:
        await pool.execute(
            """
            INSERT INTO archived_events (topic, partition, "offset", source, event_id, type, subject, time, event)
            VALUES ('candidate-contacts', 0, 1, 's', 'e1', 't', 'cand-1', now(), '{"data": {"candidate_id": "cand-1"}}'),
                   ('candidates', 0, 2, 's', 'e2', 't', 'cand-1', now(), '{"data": {"id": "cand-1"}}'),
                   ('immersion-bookings', 0, 3, 's', 'e3', 't', 'slot-1', now(), '{"data": {"candidate_id": "cand-2"}}'),
                   ('vacancies', 0, 4, 's', 'e4', 't', 'vac-1', now(), '{"data": {"id": "vac-1"}}')
            """
        )
        await pool.execute(
            "INSERT INTO erasures (candidate_id, source, event_id) VALUES ('cand-9', 's', 'bye')"
        )
    async with create_pool(fresh_database, migrations=[("events", MIGRATIONS)], max_size=2) as pool:
        rows = await pool.fetch('SELECT event_id, candidate_id FROM archived_events ORDER BY "offset"')
        assert [(r["event_id"], r["candidate_id"]) for r in rows] == [
            ("e1", "cand-1"),
            ("e2", "cand-1"),
            ("e3", "cand-2"),
            ("e4", None),
        ]
        assert await pool.fetchval("SELECT count(*) FROM erasures WHERE applied_at IS NULL") == 0
        with pytest.raises(Exception, match="append-only"):
            await pool.execute("UPDATE archived_events SET type = 'x'")
