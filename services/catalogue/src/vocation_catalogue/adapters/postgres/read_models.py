"""The `ReadModels` port on one transaction's connection."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from vocation_shared.contracts import payloads as p

from vocation_catalogue.adapters.postgres.rows import known_table, upsert
from vocation_catalogue.core.projection import Row


class PostgresReadModels:
    """Rows of the read-model tables, newest version winning."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def upsert(self, row: Row) -> bool:
        """Insert or replace `row` unless the stored version is the same or newer; True if written."""
        return await upsert(self._conn, row)

    async def fill_vacancy(self, vacancy_id: str, at: datetime) -> bool:
        """Mark an open vacancy filled (a replacement shift taken); False if not open."""
        status = await self._conn.execute(
            """
            UPDATE vacancies
            SET status = 'filled', updated_at = LEAST($2::timestamptz, now()),
                data = jsonb_set(data, '{status}', '"filled"')
                     || jsonb_build_object('posts_filled', coalesce((data->>'posts')::int, 1))
            WHERE id = $1 AND status = 'open'
            """,
            vacancy_id,
            at,
        )
        return bool(status.endswith(" 1"))

    async def has_slot(self, slot_id: str) -> bool:
        """Whether the read model holds this immersion slot (in any status)."""
        return bool(await self._conn.fetchval("SELECT true FROM immersion_slots WHERE id = $1", slot_id))

    async def slot(self, slot_id: str) -> p.ImmersionSlot | None:
        """A slot's state, its row locked (`FOR UPDATE`) until the transaction ends; None if unknown."""
        data = await self._conn.fetchval("SELECT data FROM immersion_slots WHERE id = $1 FOR UPDATE", slot_id)
        return None if data is None else p.ImmersionSlot.model_validate(data)

    async def slot_versions(self, slot_id: str) -> tuple[int, int] | None:
        """A slot's (version, owner's last version), its row locked; None if unknown."""
        stored = await self._conn.fetchrow(
            "SELECT version, partner_version FROM immersion_slots WHERE id = $1 FOR UPDATE", slot_id
        )
        return None if stored is None else (stored["version"], stored["partner_version"])

    async def erase(self, table: str, id: str) -> None:
        """Delete a tombstoned entity (a later event with any version would bring it back)."""
        await self._conn.execute(f"DELETE FROM {known_table(table)} WHERE id = $1", id)
