"""Facts to publish, recorded in the transaction that causes them: the `outcome_events` table
(`vocation_shared.postgres.outbox`, published by its `OutboxRelay`)."""

from __future__ import annotations

import asyncpg
from vocation_shared.contracts import events as ev
from vocation_shared.postgres.outbox import TransactionalOutbox

OUTCOME_EVENTS = "outcome_events"
"""The outbox table (migration 0001, the columns `vocation_shared.postgres.outbox` expects)."""


class PostgresEventOutbox(TransactionalOutbox):
    """The `EventOutbox` port on one transaction's connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        super().__init__(conn, OUTCOME_EVENTS)

    async def drop_consent_updates(self, candidate_id: str) -> None:
        """Forget a candidate's `consent-updated` facts not published yet.

        An opt-out restatement not published yet carries the contact: published after the
        tombstone, it would bring the person back on the topic.
        """
        await self._conn.execute(
            f"DELETE FROM {self.table} WHERE event->>'type' = $2 AND event->>'subject' = $1",
            candidate_id,
            ev.ConsentUpdated.TYPE,
        )
