"""The applications' repositories on one transaction's connection: the pairs' rows, their
standing matches and the outbox of their facts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import astuple, fields
from datetime import date
from typing import Any

import asyncpg
from vocation_shared.contracts.vocabulary import (
    ApplicationDeclineReason,
    ApplicationWithdrawalReason,
    MatchDeclineReason,
    OfferKind,
)
from vocation_shared.facts import Fact, Tombstone
from vocation_shared.postgres.outbox import TransactionalOutbox

from vocation_catalogue.core.applications import Application, ApplicationState, MatchView
from vocation_catalogue.core.pair_matches import Forget, ForgetIf, Keep, Pair, PairChange

OUTBOX = "application_outbox"
_COLUMNS = [f.name for f in fields(Application)]
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM applications"


def _record(row: asyncpg.Record) -> Application:
    """An `applications` row as the core's record."""

    def optional(kind: Any, value: str | None) -> Any:
        return None if value is None else kind(value)

    return Application(
        candidate_id=row["candidate_id"],
        offer_id=row["offer_id"],
        offer_kind=OfferKind(row["offer_kind"]),
        departement=row["departement"],
        rome_code=row["rome_code"],
        state=ApplicationState(row["state"]),
        revision=row["revision"],
        match_id=row["match_id"],
        decline_reason=optional(ApplicationDeclineReason, row["decline_reason"]),
        withdrawal_reason=optional(ApplicationWithdrawalReason, row["withdrawal_reason"]),
        match_decline_reason=optional(MatchDeclineReason, row["match_decline_reason"]),
        submitted_at=row["submitted_at"],
        answer_due=row["answer_due"],
        first_answer_at=row["first_answer_at"],
        interview_proposed_at=row["interview_proposed_at"],
    )


def _values(record: Application) -> list[Any]:
    return [record.application_id, *(None if v is None else v for v in astuple(record))]


class PostgresApplications:
    """`applications`: one row per pair, keyed by the pair's id."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, candidate_id: str, offer_id: str) -> Application | None:
        """The pair's row, locked (`FOR UPDATE`); None if there is none."""
        row = await self._conn.fetchrow(
            f"{_SELECT} WHERE candidate_id = $1 AND offer_id = $2 FOR UPDATE", candidate_id, offer_id
        )
        return None if row is None else _record(row)

    async def hold(self, blank: Application) -> Application:
        """`INSERT … ON CONFLICT DO NOTHING` on the pair's id, then the row locked: a second
        transaction's insert waits for the first's commit, then reads its row."""
        names = ["application_id", *_COLUMNS]
        placeholders = ", ".join(f"${n}" for n in range(1, len(names) + 1))
        await self._conn.execute(
            f"INSERT INTO applications ({', '.join(names)}) VALUES ({placeholders}) "
            "ON CONFLICT (application_id) DO NOTHING",
            *_values(blank),
        )
        held = await self.get(blank.candidate_id, blank.offer_id)
        if held is None:  # the row was written above or by the transaction waited for
            raise RuntimeError("the application row vanished under its lock")
        return held

    async def save(self, record: Application) -> None:
        """Write the pair's state (insert or replace)."""
        names = ["application_id", *_COLUMNS]
        placeholders = ", ".join(f"${n}" for n in range(1, len(names) + 1))
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in _COLUMNS)
        await self._conn.execute(
            f"INSERT INTO applications ({', '.join(names)}) VALUES ({placeholders}) "
            f"ON CONFLICT (application_id) DO UPDATE SET {updates}, updated_at = now()",
            *_values(record),
        )

    async def pending_of(self, offer_id: str) -> list[Application]:
        """The offer's applications waiting on the employer, locked, by id."""
        rows = await self._conn.fetch(
            f"{_SELECT} WHERE offer_id = $1 AND state IN ('submitted', 'interview_proposed') "
            "ORDER BY application_id FOR UPDATE",
            offer_id,
        )
        return [_record(r) for r in rows]

    async def due(self, today: date, limit: int) -> list[Application]:
        """Unanswered applications due on `today` or before, locked; rows another transaction
        holds are skipped (it is acting on them)."""
        rows = await self._conn.fetch(
            f"{_SELECT} WHERE state = 'submitted' AND answer_due <= $1 "
            "ORDER BY answer_due, application_id LIMIT $2 FOR UPDATE SKIP LOCKED",
            today,
            limit,
        )
        return [_record(r) for r in rows]

    async def delete_of(self, candidate_id: str) -> list[str]:
        """Delete the candidate's rows; their ids, sorted."""
        rows = await self._conn.fetch(
            "DELETE FROM applications WHERE candidate_id = $1 RETURNING application_id", candidate_id
        )
        return sorted(r[0] for r in rows)


class PostgresPairMatches:
    """`pair_matches`: the standing match of each pair."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def apply(self, changes: Mapping[Pair, PairChange]) -> None:
        """The run's changes in three statements at most: the kept matches upserted (pipelined),
        the forgotten pairs deleted, the conditionally forgotten deleted if still theirs."""
        kept = [(c, o, k.view) for (c, o), k in changes.items() if isinstance(k, Keep)]
        if kept:
            await self._conn.executemany(
                "INSERT INTO pair_matches (candidate_id, offer_id, match_id, distance_km, reasons) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (candidate_id, offer_id) DO UPDATE SET "
                "match_id = EXCLUDED.match_id, distance_km = EXCLUDED.distance_km, reasons = EXCLUDED.reasons",
                [(c, o, v.match_id, v.distance_km, list(v.reasons)) for c, o, v in kept],
            )
        forgotten = [pair for pair, change in changes.items() if isinstance(change, Forget)]
        if forgotten:
            await self._conn.execute(
                "DELETE FROM pair_matches p USING unnest($1::text[], $2::text[]) AS d(c, o) "
                "WHERE p.candidate_id = d.c AND p.offer_id = d.o",
                [c for c, _ in forgotten],
                [o for _, o in forgotten],
            )
        guarded = [(c, o, m) for (c, o), k in changes.items() if isinstance(k, ForgetIf) for m in k.match_ids]
        if guarded:
            await self._conn.execute(
                "DELETE FROM pair_matches p USING unnest($1::text[], $2::text[], $3::text[]) AS d(c, o, m) "
                "WHERE p.candidate_id = d.c AND p.offer_id = d.o AND p.match_id = d.m",
                [c for c, _, _ in guarded],
                [o for _, o, _ in guarded],
                [m for _, _, m in guarded],
            )

    async def get(self, candidate_id: str, offer_id: str) -> MatchView | None:
        """The pair's standing match, or None."""
        row = await self._conn.fetchrow(
            "SELECT match_id, distance_km, reasons FROM pair_matches WHERE candidate_id = $1 AND offer_id = $2",
            candidate_id,
            offer_id,
        )
        return None if row is None else MatchView(row[0], row[1], tuple(row[2]))

    async def delete_of(self, candidate_id: str) -> None:
        """Forget every match of the candidate."""
        await self._conn.execute("DELETE FROM pair_matches WHERE candidate_id = $1", candidate_id)


class PostgresOutbox:
    """`application_outbox` (`vocation_shared.postgres.outbox`) on this transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._outbox = TransactionalOutbox(conn, OUTBOX)

    async def queue(self, facts: Sequence[Fact]) -> None:
        """Queue events and tombstones in their order."""
        for fact in facts:
            if isinstance(fact, Tombstone):
                await self._outbox.queue_tombstone(fact.topic, fact.key)
            else:
                await self._outbox.queue([fact])
