"""What this service keeps of establishments and immersion slots: the `establishments` and `immersion_slots` tables."""

from __future__ import annotations

from typing import Any

import asyncpg
from vocation_shared.contracts import payloads as p

from vocation_notifications.adapters.postgres.rows import slot_snapshot as slot_snapshot_of


class PostgresSnapshots:
    """The `Snapshots` port on one transaction's connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def save_establishment(self, data: p.Establishment) -> None:
        """Keep an establishment's name and tutor address (newest version wins)."""
        await self._conn.execute(
            """
            INSERT INTO establishments (id, name, commune_insee, address, tutor_email, version)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (id) DO UPDATE SET name = $2, commune_insee = $3, address = $4, tutor_email = $5, version = $6
            WHERE establishments.version <= $6
            """,
            data.id,
            data.name,
            data.commune_insee,
            data.address,
            str(data.immersion_contact_email) if data.immersion_contact_email else None,
            data.version,
        )

    async def save_slot(self, data: p.ImmersionSlot) -> None:
        """Keep an immersion slot's essentials (newest version wins)."""
        await self._conn.execute(
            """
            INSERT INTO immersion_slots (id, establishment_id, establishment_name, title, rome_code, commune_insee, tutor_name, version)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (id) DO UPDATE SET establishment_id = $2, establishment_name = $3, title = $4,
                rome_code = $5, commune_insee = $6, tutor_name = $7, version = $8
            WHERE immersion_slots.version <= $8
            """,
            data.id,
            data.establishment.id,
            data.establishment.name,
            data.title,
            data.rome_code,
            data.commune_insee,
            data.tutor_name,
            data.version,
        )

    async def slot_snapshot(self, slot_id: str, places_left: int | None) -> dict[str, Any] | None:
        """What booking notifications show of a slot (and of its establishment's address)."""
        record = await self._conn.fetchrow(
            """
            SELECT s.title, s.establishment_name, s.commune_insee, s.tutor_name, s.rome_code, e.address
            FROM immersion_slots s LEFT JOIN establishments e ON e.id = s.establishment_id
            WHERE s.id = $1
            """,
            slot_id,
        )
        return None if record is None else slot_snapshot_of(record, "", places_left)
