"""What matching learned (`Learning`) in PostgreSQL: refusals and hires, bound to the unit of work's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asyncpg.pool import PoolConnectionProxy
from vocation_shared.contracts.vocabulary import ContractType, MatchDeclineReason

from vocation_matching.core.learning import Lesson
from vocation_matching.core.model import OfferSource
from vocation_matching.ports import Learned

REREAD_MARGIN = "1 minute"
"""`since` reads again what was recorded this long before the moment asked: a row's `recorded_at` is
its transaction's start, so a transaction that committed after the last read but began before it is
still found (transactions here last milliseconds)."""

_DECLINE_COLUMNS = "candidate_id, offer_source, offer_id, reason, basis, distance_km, night, weekend, excluded_close, contract"


def _lesson(row: Any) -> Lesson:
    return Lesson(
        offer=(OfferSource(row["offer_source"]), row["offer_id"]),
        reason=None if row["reason"] is None else MatchDeclineReason(row["reason"]),
        basis=row["basis"],
        distance_km=row["distance_km"],
        night=row["night"],
        weekend=row["weekend"],
        excluded_close=frozenset(row["excluded_close"]),
        contract=None if row["contract"] is None else ContractType(row["contract"]),
    )


class PostgresLearning:
    """`Learning` on one connection, inside the transaction its unit of work opened."""

    def __init__(self, conn: PoolConnectionProxy) -> None:
        self._conn = conn

    async def record_decline(self, event_id: str, candidate_id: str, lesson: Lesson) -> Lesson:
        """Insert the refusal unless the pair (or the event) is there; return the lesson kept."""
        source, offer_id = lesson.offer
        await self._conn.execute(
            f"INSERT INTO match_declines (event_id, {_DECLINE_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
            event_id,
            candidate_id,
            str(source),
            offer_id,
            None if lesson.reason is None else str(lesson.reason),
            lesson.basis,
            lesson.distance_km,
            lesson.night,
            lesson.weekend,
            sorted(lesson.excluded_close),
            None if lesson.contract is None else str(lesson.contract),
        )
        row = await self._conn.fetchrow(
            f"SELECT {_DECLINE_COLUMNS} FROM match_declines"
            " WHERE candidate_id = $1 AND offer_source = $2 AND offer_id = $3",
            candidate_id,
            str(source),
            offer_id,
        )
        return _lesson(row) if row is not None else lesson

    async def record_hire(self, event_id: str, application_id: str, vacancy_id: str) -> bool:
        """Insert the hire unless its application (or the event) is counted already."""
        status = await self._conn.execute(
            "INSERT INTO platform_hires (application_id, vacancy_id, event_id) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            application_id,
            vacancy_id,
            event_id,
        )
        return bool(status.endswith(" 1"))

    async def forget_candidate(self, candidate_id: str) -> None:
        """Delete a candidate's refusals."""
        await self._conn.execute("DELETE FROM match_declines WHERE candidate_id = $1", candidate_id)

    async def since(self, moment: datetime | None) -> Learned:
        """The refusals and hires recorded since `moment` less the margin (everything with None)."""
        after = f"WHERE $1::timestamptz IS NULL OR recorded_at > $1::timestamptz - interval '{REREAD_MARGIN}'"
        declines = await self._conn.fetch(
            f"SELECT {_DECLINE_COLUMNS} FROM match_declines {after} ORDER BY recorded_at", moment
        )
        hires = await self._conn.fetch(
            f"SELECT vacancy_id, application_id FROM platform_hires {after} ORDER BY recorded_at", moment
        )
        now = await self._conn.fetchval("SELECT now()")
        return Learned(
            [(r["candidate_id"], _lesson(r)) for r in declines],
            [(r["vacancy_id"], r["application_id"]) for r in hires],
            now,
        )
