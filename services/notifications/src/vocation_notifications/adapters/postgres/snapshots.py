"""What this service keeps of establishments, vacancies and immersion slots (`establishments`,
`vacancies`, `immersion_slots`)."""

from __future__ import annotations

from typing import Any

import asyncpg
from vocation_shared.contracts import payloads as p

from vocation_notifications.adapters.postgres.rows import slot_snapshot as slot_snapshot_of
from vocation_notifications.core.applications import departement_of, recruiting_columns


class PostgresSnapshots:
    """The `Snapshots` port on one transaction's connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def save_establishment(self, data: p.Establishment) -> None:
        """Keep an establishment's name, tutor address and recruiting contact (newest version wins)."""
        await self._conn.execute(
            """
            INSERT INTO establishments (id, name, commune_insee, address, tutor_email, version,
                                        recruiting_name, recruiting_email, recruiting_phone)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (id) DO UPDATE SET name = $2, commune_insee = $3, address = $4, tutor_email = $5,
                version = $6, recruiting_name = $7, recruiting_email = $8, recruiting_phone = $9
            WHERE establishments.version <= $6
            """,
            data.id,
            data.name,
            data.commune_insee,
            data.address,
            str(data.immersion_contact_email) if data.immersion_contact_email else None,
            data.version,
            *recruiting_columns(data.recruiting_contact),
        )

    async def save_vacancy(self, data: p.Vacancy) -> None:
        """Keep what an application's messages show of a vacancy (newest version wins)."""
        await self._conn.execute(
            """
            INSERT INTO vacancies (id, establishment_id, establishment_name, title, commune_insee,
                                   application_url, version, recruiting_name, recruiting_email, recruiting_phone)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (id) DO UPDATE SET establishment_id = $2, establishment_name = $3, title = $4,
                commune_insee = $5, application_url = $6, version = $7, recruiting_name = $8,
                recruiting_email = $9, recruiting_phone = $10
            WHERE vacancies.version <= $7
            """,
            data.id,
            data.establishment.id,
            data.establishment.name,
            data.title,
            data.commune_insee,
            str(data.application_url) if data.application_url else None,
            data.version,
            *recruiting_columns(data.recruiting_contact),
        )

    async def vacancy_departement(self, vacancy_id: str) -> str | None:
        """The département of a vacancy's establishment (else of the vacancy's commune), if known."""
        commune: str | None = await self._conn.fetchval(
            """
            SELECT coalesce(e.commune_insee, v.commune_insee)
            FROM vacancies v LEFT JOIN establishments e ON e.id = v.establishment_id WHERE v.id = $1
            """,
            vacancy_id,
        )
        return departement_of(commune)

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
