"""The `Bookings` port on one transaction's connection: bookings, and the locks they are decided under."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from vocation_shared.contracts import payloads as p

from vocation_catalogue.core.booking import DateRange
from vocation_catalogue.ports import HeldBooking


async def _lock(conn: asyncpg.Connection, what: str) -> None:
    """A transaction-scoped lock on a name (a slot, a candidate), released at commit or rollback."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", what)


class PostgresBookings:
    """Immersion bookings; a slot's and a candidate's advisory locks, held to the transaction's end.

    With the slot's row then read `FOR UPDATE`, concurrent requests for a slot see each other's
    bookings.
    """

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def lock_slot(self, slot_id: str) -> None:
        """The slot's lock (taken before the candidate's)."""
        await _lock(self._conn, f"slot:{slot_id}")

    async def lock_candidate(self, candidate_id: str) -> None:
        """The candidate's lock (their bookings on other slots)."""
        await _lock(self._conn, f"candidate:{candidate_id}")

    async def held_dates(self, candidate_id: str) -> list[DateRange]:
        """The dates of the candidate's current bookings."""
        rows = await self._conn.fetch(
            "SELECT start_date, end_date FROM immersion_bookings WHERE candidate_id = $1 AND status = 'booked'",
            candidate_id,
        )
        return [DateRange(r["start_date"], r["end_date"]) for r in rows]

    async def booked_on(self, slot_id: str) -> int:
        """How many places of the slot are booked."""
        return int(
            await self._conn.fetchval(
                "SELECT count(*) FROM immersion_bookings WHERE slot_id = $1 AND status = 'booked'", slot_id
            )
        )

    async def add(self, request: p.ImmersionRequest, at: datetime) -> None:
        """Record a booked request."""
        await self._conn.execute(
            "INSERT INTO immersion_bookings "
            "(request_id, slot_id, candidate_id, start_date, end_date, status, booked_at) "
            "VALUES ($1, $2, $3, $4, $5, 'booked', $6)",
            request.request_id,
            request.slot_id,
            request.candidate_id,
            request.start_date,
            request.end_date,
            at,
        )

    async def holder(self, request_id: str, slot_id: str) -> tuple[str, bool] | None:
        """Who holds the request's booking on the slot, and whether it is still booked."""
        held = await self._conn.fetchrow(
            "SELECT candidate_id, status FROM immersion_bookings WHERE request_id = $1 AND slot_id = $2",
            request_id,
            slot_id,
        )
        return None if held is None else (str(held["candidate_id"]), held["status"] == "booked")

    async def cancel(self, request_id: str, at: datetime) -> None:
        """Mark the request's booking cancelled."""
        await self._conn.execute(
            "UPDATE immersion_bookings SET status = 'cancelled', cancelled_at = $2 WHERE request_id = $1",
            request_id,
            at,
        )

    async def slots_of(self, candidate_id: str) -> list[str]:
        """The slots the candidate has bookings on (any status), sorted."""
        rows = await self._conn.fetch(
            "SELECT DISTINCT slot_id FROM immersion_bookings WHERE candidate_id = $1", candidate_id
        )
        return sorted(str(r["slot_id"]) for r in rows)

    async def delete_of(self, candidate_id: str) -> list[HeldBooking]:
        """Delete the candidate's bookings; what they were."""
        rows = await self._conn.fetch(
            "DELETE FROM immersion_bookings WHERE candidate_id = $1 "
            "RETURNING request_id, slot_id, status, end_date",
            candidate_id,
        )
        return [
            HeldBooking(str(r["request_id"]), str(r["slot_id"]), r["status"] == "booked", r["end_date"])
            for r in rows
        ]
