"""The `ReadModels` port on one transaction's connection."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.vocabulary import OfferKind

from vocation_catalogue.adapters.postgres.rows import known_table, upsert
from vocation_catalogue.core.applications import Offer
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

    async def vacancy_offer(self, vacancy_id: str) -> Offer | None:
        """What an application needs of a vacancy, its row locked (a vacancy before its applications,
        in every unit of work: two hires, or a hire and a closing, wait for each other); None if unknown."""
        row = await self._conn.fetchrow(
            "SELECT status, contract_type, departement, rome_code FROM vacancies WHERE id = $1 FOR UPDATE",
            vacancy_id,
        )
        if row is None:
            return None
        kind = OfferKind.APPRENTICESHIP if row["contract_type"] == "apprentissage" else OfferKind.VACANCY
        return Offer(vacancy_id, kind, row["status"] == "open", row["departement"], row["rome_code"])

    async def candidate_summary(self, candidate_id: str) -> p.CandidateSummary | None:
        """A known candidate's summary (from `candidate_supply`); None if unknown."""
        summary = await self._conn.fetchval(
            "SELECT summary FROM candidate_supply WHERE id = $1", candidate_id
        )
        return None if summary is None else p.CandidateSummary.model_validate(summary)

    async def count_hire(self, vacancy_id: str, at: datetime) -> bool:
        """One more hire through the platform; True when it fills the vacancy."""
        await self._conn.execute(
            "UPDATE vacancies SET platform_hires = platform_hires + 1 WHERE id = $1", vacancy_id
        )
        return await self.settle_hires(vacancy_id, at)

    async def settle_hires(self, vacancy_id: str, at: datetime) -> bool:
        """Fill an open vacancy whose platform hires reach its posts: effective filled posts are
        max(the partner's posts_filled, platform_hires)."""
        status = await self._conn.execute(
            """
            UPDATE vacancies
            SET status = 'filled', updated_at = LEAST($2::timestamptz, now()),
                data = jsonb_set(data, '{status}', '"filled"') || jsonb_build_object(
                    'posts_filled', GREATEST(coalesce((data->>'posts_filled')::int, 0), platform_hires))
            WHERE id = $1 AND status = 'open' AND platform_hires >= coalesce((data->>'posts')::int, 1)
            """,
            vacancy_id,
            at,
        )
        return bool(status.endswith(" 1"))
