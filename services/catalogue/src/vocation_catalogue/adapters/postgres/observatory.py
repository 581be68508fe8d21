"""The observatory's aggregates on PostgreSQL: five scans of the read models in one snapshot, each bounded in time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from vocation_catalogue.core.observatory import NeedCounts, ObservatoryQuery

STATEMENT_TIMEOUT_MS = 10_000
"""Longest time one aggregate may take; past it the answer is a 503 (the database is struggling)."""


def _where(departement: int, metiers: int) -> str:
    """The query's filters, on the département and métiers given as parameters $departement, $metiers."""
    return (
        f"(${departement}::text IS NULL OR departement = ${departement}) "
        f"AND (cardinality(${metiers}::text[]) = 0 OR rome_code = ANY(${metiers}))"
    )


# $1 now, $2 start of the window, $3 département or NULL, $4 métiers (empty: all).

_VACANCIES = f"""
SELECT departement, rome_code,
       count(*) FILTER (WHERE status = 'open') AS open_vacancies,
       coalesce(sum(greatest(coalesce((data->>'posts')::int, 1) - coalesce((data->>'posts_filled')::int, 0), 0))
                FILTER (WHERE status = 'open'), 0) AS open_posts,
       count(*) FILTER (WHERE status = 'open' AND coalesce((data->>'urgent')::boolean, false)) AS urgent_open,
       count(*) FILTER (WHERE posted_at >= $2) AS posted_in_window,
       count(*) FILTER (WHERE status = 'filled' AND updated_at >= $2) AS filled_in_window,
       count(*) FILTER (WHERE status = 'closed' AND updated_at >= $2) AS closed_unfilled_in_window,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM $1 - posted_at) / 86400)
           FILTER (WHERE status = 'open') AS median_days_open,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - posted_at) / 86400)
           FILTER (WHERE status = 'filled' AND updated_at >= $2) AS median_days_to_fill
FROM vacancies
WHERE {_where(3, 4)} AND (status = 'open' OR updated_at >= $2 OR posted_at >= $2)
GROUP BY departement, rome_code
"""

# $1 département or NULL, $2 métiers (empty: all), $3 today.
_IMMERSIONS = f"""
SELECT departement, rome_code,
       sum(capacity) AS immersion_places,
       sum(capacity - places_left) AS immersion_places_taken
FROM immersion_slots
WHERE {_where(1, 2)} AND status = 'open' AND end_date >= $3
GROUP BY departement, rome_code
"""

_TRAININGS = f"""
SELECT departement, rome_code, sum(places_left) AS training_places_left
FROM trainings
WHERE {_where(1, 2)} AND status = 'open' AND coalesce(application_deadline, start_date) >= $3
GROUP BY departement, rome_code
"""


# $1 département or NULL, $2 métiers (empty: all).
_CANDIDATES = f"""
SELECT departement, rome_code, count(*) AS candidates
FROM (SELECT departement, unnest(rome_codes) AS rome_code FROM candidate_supply
      WHERE $1::text IS NULL OR departement = $1) AS wanted
WHERE {_where(1, 2)}
GROUP BY departement, rome_code
"""

# $1 start of the window, $2 département or NULL, $3 métiers (empty: all). The vacancy's
# département and métier, as written on the application when it was first submitted.
_APPLICATIONS = f"""
SELECT departement, rome_code,
       count(*) AS applications,
       count(*) FILTER (WHERE first_answer_at IS NOT NULL) AS applications_answered,
       count(*) FILTER (WHERE interview_proposed_at IS NOT NULL) AS interviews,
       count(*) FILTER (WHERE state = 'hired') AS hires,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_answer_at - submitted_at) / 86400)
           FILTER (WHERE first_answer_at IS NOT NULL) AS median_days_to_first_answer
FROM applications
WHERE {_where(2, 3)} AND submitted_at >= $1
GROUP BY departement, rome_code
"""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PostgresObservatory:
    """Reads the needs from the catalogue's read models (a few full scans: an operator's report)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        timezone: str = "Europe/Paris",
        clock: Callable[[], datetime] = _utcnow,
        statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
    ) -> None:
        self._pool = pool
        self._tz = ZoneInfo(timezone)
        self._clock = clock
        self._statement_timeout_ms = statement_timeout_ms

    async def needs(self, query: ObservatoryQuery) -> tuple[list[NeedCounts], datetime]:
        """Each catalogue's figures per département and métier, and the moment they describe."""
        now = self._clock()
        metiers = list(query.metiers)
        today = now.astimezone(self._tz).date()
        statements: list[tuple[str, list[Any]]] = [
            (_VACANCIES, [now, now - timedelta(days=query.window_days), query.departement, metiers]),
            (_IMMERSIONS, [query.departement, metiers, today]),
            (_TRAININGS, [query.departement, metiers, today]),
            (_CANDIDATES, [query.departement, metiers]),
            (_APPLICATIONS, [now - timedelta(days=query.window_days), query.departement, metiers]),
        ]
        parts: list[NeedCounts] = []
        try:
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                await conn.execute(f"SET LOCAL statement_timeout = {int(self._statement_timeout_ms)}")
                for statement, args in statements:  # one snapshot for all
                    for record in await conn.fetch(statement, *args):
                        parts.append(NeedCounts(**{k: v for k, v in record.items() if v is not None}))
        except asyncpg.QueryCanceledError as exc:
            raise TimeoutError(f"an observatory aggregate took over {self._statement_timeout_ms} ms") from exc
        return parts, now
