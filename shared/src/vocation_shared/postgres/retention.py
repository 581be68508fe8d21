"""Retention: rows of tables that only grow, deleted once older than a horizon, a batch at a time.

Idempotency records (`processed_events`, the gateway's `ingested_events`), the matching ledger and
the notifications sent long ago are needed only while the events they guard can still come back.
Each service lists its `Expiry`s; `pruning` deletes them in the background, in small batches
(short transactions, no long lock), and several instances may run it at once (rows locked by one
are skipped by the other).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from vocation_shared.logs import get_logger

log = get_logger(__name__)

MIN_RETENTION_DAYS = 366
"""The shortest horizon allowed: longer than the longest topic retention (one year).

An event still on a topic (a consumer group reset, a dead letter re-driven) must still find its
idempotency record.
"""

BATCH_ROWS = 5_000


@dataclass(frozen=True, slots=True)
class Expiry:
    """Rows of `table` whose timestamp `column` is older than the horizon may go; `where` narrows them.

    `table`, `column` and `where` are SQL written by the service, never input.
    """

    table: str
    column: str
    where: str = "true"

    def statement(self) -> str:
        """One batch's DELETE: $1 the horizon, $2 the batch size."""
        return (
            f"DELETE FROM {self.table} WHERE ctid = ANY(ARRAY("
            f"SELECT ctid FROM {self.table} WHERE {self.column} < $1 AND ({self.where}) "
            "LIMIT $2 FOR UPDATE SKIP LOCKED))"
        )


PAUSE_S = 0.05
"""Between two full batches: a first pass over years of rows leaves the database room for the service."""


async def prune(
    pool: asyncpg.Pool, expiry: Expiry, before: datetime, batch: int = BATCH_ROWS, pause_s: float = PAUSE_S
) -> int:
    """Delete the rows of `expiry` older than `before`, `batch` per transaction; how many went."""
    statement = expiry.statement()
    total = 0
    while True:
        status = await pool.execute(statement, before, batch)
        deleted = int(status.rsplit(" ", 1)[-1])
        total += deleted
        if deleted < batch:
            return total
        await asyncio.sleep(pause_s)


@dataclass(frozen=True, slots=True)
class Retention:
    """What a service deletes, and after how long (`keep` None: nothing is ever deleted)."""

    pool: asyncpg.Pool
    expiries: Sequence[Expiry]
    keep: timedelta | None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def run_once(self) -> dict[str, int]:
        """One pass over every expiry: rows deleted per table."""
        if self.keep is None:
            return {}
        before = self.now() - self.keep
        deleted: dict[str, int] = {}
        for expiry in self.expiries:
            deleted[expiry.table] = deleted.get(expiry.table, 0) + await prune(self.pool, expiry, before)
        return deleted


@contextlib.asynccontextmanager
async def pruning(retention: Retention, every_s: float) -> AsyncIterator[None]:
    """Run `retention` now and then every `every_s` seconds in the background, while the block runs.

    A failed pass (the database away, or a bug) is logged and tried again at the next one.
    """
    if retention.keep is None or not retention.expiries:
        yield
        return

    async def loop() -> None:
        while True:
            started = time.monotonic()
            try:
                deleted = await retention.run_once()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("retention.failed", error=repr(exc))
            except Exception:  # a bug: loud, and the next pass still runs
                log.exception("retention.bug")
            else:
                if any(deleted.values()):
                    log.info(
                        "retention.pruned",
                        rows=deleted,
                        older_than_days=retention.keep.days if retention.keep else None,
                        seconds=round(time.monotonic() - started, 3),
                    )
            await asyncio.sleep(every_s)

    task = asyncio.create_task(loop(), name="retention")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


PROCESSED_EVENTS = Expiry("processed_events", "processed_at")
"""Every consumer's idempotency records (shared migration 0001, indexed by `processed_at`)."""
