"""The notifications to send: the `outbox` table (planning, withdrawals, claims, outcomes, erasure)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
import orjson
from vocation_shared.contracts.vocabulary import Channel, NotificationPurpose, SuppressionReason
from vocation_shared.postgres.retention import Expiry
from vocation_shared.pseudonyms import Pseudonymizer

from vocation_notifications.adapters.contact_cipher import ContactCipher
from vocation_notifications.adapters.postgres.rows import ref_of, row_of
from vocation_notifications.core.model import (
    NotificationRef,
    OutboxRow,
    OutboxState,
    PlannedNotification,
    RecipientKind,
)
from vocation_notifications.core.policy import GUEST_PURPOSES, PROMPT_PURPOSES, SLOT_PURPOSES

FINISHED_NOTIFICATIONS = Expiry(
    "outbox", "created_at", "state IN ('sent', 'failed', 'suppressed', 'digested')"
)
"""Notifications finished long ago (their payload names what a person was told): deleted past the
retention. Facts older than `notice_max_age` are never planned, so a replay cannot send them again."""


def _state_of(row: PlannedNotification) -> OutboxState:
    if row.suppressed_why:
        return OutboxState.SUPPRESSED
    return OutboxState.HELD if row.held else OutboxState.PENDING


_PROMPT = sorted(str(purpose) for purpose in PROMPT_PURPOSES)
"""`outbox.prompt` is set on a row of these purposes when it is planned (see `PROMPT_PURPOSES`)."""


class PostgresOutbox:
    """The `Outbox` port on one transaction's connection."""

    def __init__(self, conn: asyncpg.Connection, cipher: ContactCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    async def plan(self, rows: Sequence[PlannedNotification], now: datetime) -> list[NotificationRef]:
        """Insert planned rows; existing keys are kept (at most once), except a match withdrawn
        before it was sent, which a new match-found revives. Returns the rows added (a row planned
        suppressed carries its `why`: the caller records its fact).
        """
        added: list[NotificationRef] = []
        for row in rows:
            state = (
                OutboxState.SUPPRESSED
                if row.suppressed_why
                else (OutboxState.HELD if row.held else OutboxState.PENDING)
            )
            record = await self._conn.fetchrow(
                """
                INSERT INTO outbox (id, recipient_id, recipient_kind, channel, purpose, about_id, about_version,
                                    related_id, payload, critical, state, not_before, why, created_at, prompt)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14, $5 = ANY($15::text[]))
                ON CONFLICT (recipient_id, channel, purpose, about_id, about_version) DO UPDATE
                    SET state = EXCLUDED.state, not_before = EXCLUDED.not_before, payload = EXCLUDED.payload,
                        related_id = EXCLUDED.related_id, why = EXCLUDED.why, created_at = EXCLUDED.created_at
                    WHERE outbox.state = 'suppressed' AND outbox.why = 'withdrawn' AND EXCLUDED.state <> 'suppressed'
                RETURNING id, recipient_id, channel, purpose, about_id
                """,
                uuid.uuid4(),
                row.recipient_id,
                str(row.recipient_kind),
                str(row.channel),
                str(row.purpose),
                row.about_id,
                row.about_version,
                row.related_id,
                row.payload,
                row.critical,
                str(state),
                row.not_before,
                row.suppressed_why,
                now,
                _PROMPT,
            )
            if record is None:
                continue
            added.append(
                ref_of(record, SuppressionReason(row.suppressed_why) if row.suppressed_why else None)
            )
        return added

    async def plan_many(self, rows: Sequence[PlannedNotification], now: datetime) -> list[NotificationRef]:
        """`plan` in one multi-row statement. The rows' keys must be distinct (`core.batches.MatchStep`).

        Same rule: existing keys are kept, except a withdrawn match, which a new match revives.
        Returns the rows added or revived (those planned suppressed carry their `why`).
        """
        if not rows:
            return []
        records = await self._conn.fetch(
            """
            INSERT INTO outbox (id, recipient_id, recipient_kind, channel, purpose, about_id, about_version,
                                related_id, payload, critical, state, not_before, why, created_at, prompt)
            SELECT r.id, r.recipient_id, r.recipient_kind, r.channel, r.purpose, r.about_id, r.about_version,
                   r.related_id, r.payload::jsonb, r.critical, r.state, r.not_before, r.why, $14,
                   r.purpose = ANY($15::text[])
            FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[],
                        $8::text[], $9::text[], $10::bool[], $11::text[], $12::timestamptz[], $13::text[])
                 AS r(id, recipient_id, recipient_kind, channel, purpose, about_id, about_version,
                      related_id, payload, critical, state, not_before, why)
            ON CONFLICT (recipient_id, channel, purpose, about_id, about_version) DO UPDATE
                SET state = EXCLUDED.state, not_before = EXCLUDED.not_before, payload = EXCLUDED.payload,
                    related_id = EXCLUDED.related_id, why = EXCLUDED.why, created_at = EXCLUDED.created_at
                WHERE outbox.state = 'suppressed' AND outbox.why = 'withdrawn' AND EXCLUDED.state <> 'suppressed'
            RETURNING id, recipient_id, channel, purpose, about_id, why
            """,
            [uuid.uuid4() for _ in rows],
            [r.recipient_id for r in rows],
            [str(r.recipient_kind) for r in rows],
            [str(r.channel) for r in rows],
            [str(r.purpose) for r in rows],
            [r.about_id for r in rows],
            [r.about_version for r in rows],
            [r.related_id for r in rows],
            [orjson.dumps(r.payload).decode() for r in rows],
            [r.critical for r in rows],
            [str(_state_of(r)) for r in rows],
            [r.not_before for r in rows],
            [r.suppressed_why for r in rows],
            now,
            _PROMPT,
        )
        # A revived row never comes back suppressed, so `why` is set only on new suppressed rows.
        return [ref_of(r, SuppressionReason(r["why"]) if r["why"] is not None else None) for r in records]

    async def withdraw_many(
        self, pairs: Sequence[tuple[str, str]], purposes: Sequence[NotificationPurpose]
    ) -> tuple[int, list[NotificationRef]]:
        """Suppress (`withdrawn`) what is not sent yet about these (recipient, subject) pairs (one statement).

        A row already gathered into a digest that is not sent yet leaves that digest too: its item
        is taken out and the count lowered, and a digest left empty is suppressed. Returns how many
        rows were withdrawn, and every row suppressed (the withdrawn ones, then the emptied digests).
        """
        if not pairs:
            return 0, []
        recipients, subjects = [r for r, _ in pairs], [a for _, a in pairs]
        # Lock the unsent digests holding such rows first: the worker (SKIP LOCKED) cannot start
        # sending one while its items are taken out.
        await self._conn.execute(
            """
            SELECT d.id FROM outbox d
            WHERE d.state IN ('pending', 'held') AND d.id IN (
                SELECT o.digest_id FROM outbox o
                JOIN unnest($1::text[], $2::text[]) AS w(recipient_id, about_id)
                  ON o.recipient_id = w.recipient_id AND o.about_id = w.about_id
                WHERE o.state = 'digested' AND o.purpose = ANY($3::text[]))
            ORDER BY d.id
            FOR UPDATE OF d
            """,
            recipients,
            subjects,
            [str(x) for x in purposes],
        )
        records = await self._conn.fetch(
            """
            UPDATE outbox o SET state = 'suppressed', why = 'withdrawn'
            FROM unnest($1::text[], $2::text[]) AS w(recipient_id, about_id)
            WHERE o.recipient_id = w.recipient_id AND o.about_id = w.about_id
              AND o.purpose = ANY($3::text[])
              AND (o.state IN ('pending', 'held')
                   OR (o.state = 'digested' AND EXISTS (
                       SELECT 1 FROM outbox d WHERE d.id = o.digest_id AND d.state IN ('pending', 'held'))))
            RETURNING o.id, o.recipient_id, o.channel, o.purpose, o.about_id, o.digest_id, o.payload
            """,
            recipients,
            subjects,
            [str(x) for x in purposes],
        )
        suppressed = [ref_of(r, SuppressionReason.WITHDRAWN) for r in records]
        suppressed += await self._leave_digests([r for r in records if r["digest_id"] is not None])
        return len(records), suppressed

    async def _leave_digests(self, left: Sequence[asyncpg.Record]) -> list[NotificationRef]:
        """Take withdrawn rows out of their unsent digests; suppress the digests left empty (returned)."""
        if not left:
            return []
        await self._conn.execute(
            """
            UPDATE outbox d
            SET payload = jsonb_set(
                    jsonb_set(d.payload, '{items}', coalesce(
                        (SELECT jsonb_agg(i) FROM jsonb_array_elements(d.payload -> 'items') AS i
                         WHERE i <> ALL (g.items)), '[]'::jsonb)),
                    '{count}', to_jsonb(greatest((d.payload ->> 'count')::int - g.n, 0)))
            FROM (
                SELECT l.digest_id, array_agg(l.payload) AS items, count(*)::int AS n
                FROM unnest($1::uuid[], $2::jsonb[]) AS l(digest_id, payload)
                GROUP BY l.digest_id
            ) AS g
            WHERE d.id = g.digest_id AND d.state IN ('pending', 'held')
            """,
            [r["digest_id"] for r in left],
            [r["payload"] for r in left],
        )
        emptied = await self._conn.fetch(
            """
            UPDATE outbox SET state = 'suppressed', why = 'withdrawn'
            WHERE id = ANY($1::uuid[]) AND state IN ('pending', 'held') AND (payload ->> 'count')::int <= 0
            RETURNING id, recipient_id, channel, purpose, about_id
            """,
            list({r["digest_id"] for r in left}),
        )
        return [ref_of(r, SuppressionReason.WITHDRAWN) for r in emptied]

    async def withdraw_related(
        self, related_id: str, purposes: Sequence[NotificationPurpose]
    ) -> list[NotificationRef]:
        """Suppress (`withdrawn`) unsent rows of every recipient about a request (e.g. a cancelled booking)."""
        records = await self._conn.fetch(
            """
            UPDATE outbox SET state = 'suppressed', why = 'withdrawn'
            WHERE related_id = $1 AND purpose = ANY($2::text[]) AND state IN ('pending', 'held')
            RETURNING id, recipient_id, channel, purpose, about_id
            """,
            related_id,
            [str(x) for x in purposes],
        )
        return [ref_of(r, SuppressionReason.WITHDRAWN) for r in records]

    async def due(self, now: datetime, limit: int) -> list[OutboxRow]:
        """Due pending rows with their recipient's contact or host address, locked (SKIP LOCKED)."""
        records = await self._conn.fetch(
            """
            SELECT o.id, o.recipient_id, o.recipient_kind, o.channel, o.purpose, o.about_id, o.payload,
                   o.critical, o.attempts, o.created_at, o.attempt_id,
                   c.email AS c_email, c.phone AS c_phone, c.channels AS c_channels, c.digest AS c_digest,
                   c.urgent_shift_sms AS c_urgent_shift_sms, c.first_name AS c_first_name,
                   c.language AS c_language, c.version AS c_version,
                   CASE WHEN o.recipient_kind = 'recruiter' THEN r.recruiting_email ELSE e.tutor_email END
                       AS tutor_email,
                   g.first_name AS guest_first_name, g.email AS guest_email, g.phone AS guest_phone,
                   v.title AS v_title, v.establishment_name AS v_establishment_name,
                   v.commune_insee AS v_commune_insee, v.application_url AS v_application_url,
                   r.recruiting_name AS r_name, r.recruiting_email AS r_email, r.recruiting_phone AS r_phone,
                   s.title AS s_title, s.establishment_name AS s_establishment_name,
                   s.commune_insee AS s_commune_insee, s.tutor_name AS s_tutor_name,
                   s.rome_code AS s_rome_code, se.address AS s_address
            FROM outbox o
            LEFT JOIN contacts c ON o.recipient_kind = 'candidate' AND c.candidate_id = o.recipient_id
            LEFT JOIN establishments e ON o.recipient_kind = 'establishment' AND e.id = o.recipient_id
            LEFT JOIN contacts g
                   ON o.purpose = ANY($4::text[]) AND g.candidate_id = o.payload ->> 'candidate_id'
            LEFT JOIN vacancies v ON v.id = o.payload ->> 'offer_id'
            -- The vacancy's recruiting contact overrides its site's, as a whole.
            LEFT JOIN LATERAL (
                SELECT x.recruiting_name, x.recruiting_email, x.recruiting_phone
                FROM (SELECT v.recruiting_name, v.recruiting_email, v.recruiting_phone, 1 AS rank
                      UNION ALL
                      SELECT ve.recruiting_name, ve.recruiting_email, ve.recruiting_phone, 2
                      FROM establishments ve WHERE ve.id = v.establishment_id) AS x
                WHERE x.recruiting_email IS NOT NULL ORDER BY x.rank LIMIT 1
            ) AS r ON v.id IS NOT NULL
            LEFT JOIN immersion_slots s
                   ON o.purpose = ANY($3::text[]) AND NOT (o.payload ? 'slot') AND s.id = o.payload ->> 'slot_id'
            LEFT JOIN establishments se ON se.id = s.establishment_id
            WHERE o.state = 'pending' AND o.not_before <= $1
            ORDER BY o.prompt DESC, o.not_before
            LIMIT $2
            FOR UPDATE OF o SKIP LOCKED
            """,
            now,
            limit,
            sorted(str(purpose) for purpose in SLOT_PURPOSES),
            sorted(str(purpose) for purpose in GUEST_PURPOSES),
        )
        return [row_of(r, self._cipher) for r in records]

    async def lock_recipients(self, recipient_ids: Iterable[str]) -> None:
        """Serialise cap decisions per recipient across workers (transaction-scoped advisory locks)."""
        ids = sorted(set(recipient_ids))
        if not ids:
            return
        # One statement, the locks taken in the sorted order (no deadlock between workers).
        await self._conn.execute(
            """
            SELECT pg_advisory_xact_lock(hashtext('notifications-cap:' || r.id))
            FROM (SELECT id FROM unnest($1::text[]) WITH ORDINALITY AS u(id, n) ORDER BY n OFFSET 0) AS r
            """,
            ids,
        )

    async def capped_counts(
        self,
        recipient_ids: Sequence[str],
        purposes: Iterable[NotificationPurpose],
        day: tuple[datetime, datetime],
    ) -> dict[tuple[str, Channel], int]:
        """Capped messages sent (or being sent) today, per recipient and channel."""
        records = await self._conn.fetch(
            """
            SELECT recipient_id, channel, count(*) AS n FROM outbox
            WHERE recipient_id = ANY($1::text[]) AND purpose = ANY($2::text[]) AND state IN ('sent', 'sending')
              AND claimed_at >= $3 AND claimed_at < $4
            GROUP BY recipient_id, channel
            """,
            list(recipient_ids),
            [str(x) for x in purposes],
            day[0],
            day[1],
        )
        return {(r["recipient_id"], Channel(r["channel"])): r["n"] for r in records}

    async def mark_sending(
        self, rows: Sequence[OutboxRow], now: datetime, lease_until: datetime
    ) -> list[tuple[str, int]]:
        """Claim rows (locked by `due`) for one attempt each; returns (attempt id, attempt number) per row."""
        claims = [(uuid.uuid4(), row.attempts + 1) for row in rows]
        if rows:
            await self._conn.execute(
                """
                UPDATE outbox o SET state = 'sending', attempt_id = c.attempt_id, attempts = c.attempts,
                    claimed_at = $4, lease_until = $5
                FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS c(id, attempt_id, attempts)
                WHERE o.id = c.id
                """,
                [uuid.UUID(row.id) for row in rows],
                [attempt_id for attempt_id, _ in claims],
                [attempts for _, attempts in claims],
                now,
                lease_until,
            )
        return [(str(attempt_id), attempts) for attempt_id, attempts in claims]

    async def defer(self, row_id: str, until: datetime, *, hold: bool = False) -> None:
        """Leave a row for later (outside the window, contact not known yet, or held for the digest)."""
        await self._conn.execute(
            "UPDATE outbox SET not_before = $2, state = $3 WHERE id = $1",
            uuid.UUID(row_id),
            until,
            "held" if hold else "pending",
        )

    async def wake_many(self, recipient_ids: Sequence[str], kind: RecipientKind, now: datetime) -> int:
        """`wake` for many recipients in one statement."""
        if not recipient_ids:
            return 0
        status: str = await self._conn.execute(
            """
            UPDATE outbox SET not_before = $3
            WHERE recipient_id = ANY($1::text[]) AND recipient_kind = $2 AND state = 'pending' AND attempts = 0
              AND not_before > $3 AND purpose NOT IN ('immersion_reminder', 'application_reminder')
            """,
            sorted(set(recipient_ids)),
            str(kind),
            now,
        )
        return int(status.split()[-1])

    async def suppress(self, row: OutboxRow, why: SuppressionReason) -> None:
        """Do not send this row, and say why."""
        await self._conn.execute(
            "UPDATE outbox SET state = 'suppressed', why = $2, lease_until = NULL WHERE id = $1",
            uuid.UUID(row.id),
            str(why),
        )

    async def mark_sent_many(
        self,
        sent: Sequence[tuple[OutboxRow, str, int, str | None]],
        now: datetime,
    ) -> list[bool]:
        """Record the provider's acceptance of many (row, attempt id, attempt number, provider id) in one
        statement, where the attempt still owns its row.

        Returns, per item, whether it was recorded (the attempt still owned its row).
        """
        if not sent:
            return []
        records = await self._conn.fetch(
            """
            UPDATE outbox o SET state = 'sent', sent_at = $4, provider_message_id = s.provider_id,
                lease_until = NULL, last_error = NULL
            FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS s(id, attempt_id, provider_id)
            WHERE o.id = s.id AND o.attempt_id = s.attempt_id AND o.state = 'sending'
            RETURNING o.id
            """,
            [uuid.UUID(row.id) for row, _, _, _ in sent],
            [uuid.UUID(attempt_id) for _, attempt_id, _, _ in sent],
            [provider_id for _, _, _, provider_id in sent],
            now,
        )
        done = {str(r["id"]) for r in records}
        return [row.id in done for row, _, _, _ in sent]

    async def mark_failed(
        self, row: OutboxRow, attempt_id: str, error: str, retry_at: datetime | None
    ) -> bool:
        """A failed attempt: back to pending at `retry_at`, or failed for good when it is None."""
        updated = await self._conn.fetchval(
            """
            UPDATE outbox SET state = $3, not_before = coalesce($4, not_before), last_error = $5, lease_until = NULL
            WHERE id = $1 AND attempt_id = $2 AND state = 'sending' RETURNING true
            """,
            uuid.UUID(row.id),
            uuid.UUID(attempt_id),
            "pending" if retry_at is not None else "failed",
            retry_at,
            error[:1000],
        )
        return bool(updated)

    async def release_expired(self, now: datetime, limit: int = 500) -> int:
        """Rows whose sender died mid-attempt go back to pending; the next attempt checks the provider first."""
        result = await self._conn.fetch(
            """
            UPDATE outbox SET state = 'pending', not_before = $1, lease_until = NULL, last_error = 'attempt interrupted'
            WHERE id IN (SELECT id FROM outbox WHERE state = 'sending' AND lease_until <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING id
            """,
            now,
            limit,
        )
        return len(result)

    async def depth(self) -> dict[str, int]:
        """Rows per unfinished state (queue depth)."""
        records = await self._conn.fetch(
            "SELECT state, count(*) AS n FROM outbox WHERE state IN ('pending', 'held', 'sending') GROUP BY state"
        )
        found = {r["state"]: int(r["n"]) for r in records}
        return {state: found.get(state, 0) for state in ("pending", "held", "sending")}

    async def erase(self, candidate_id: str) -> list[NotificationRef]:
        """Erasure: suppress (`erased`) what was still to send to the candidate; returns those rows.

        `keep_under_pseudonym` then keeps the rows, without personal data, for at-most-once.
        """
        records = await self._conn.fetch(
            """
            UPDATE outbox SET state = 'suppressed', why = 'erased', lease_until = NULL
            WHERE state IN ('pending', 'held', 'sending')
              AND ((recipient_id = $1 AND recipient_kind = 'candidate')
                   OR (recipient_kind = 'recruiter' AND payload ->> 'candidate_id' = $1))
            RETURNING id, recipient_id, channel, purpose, about_id
            """,
            candidate_id,
        )
        return [ref_of(r, SuppressionReason.ERASED) for r in records]

    async def keep_under_pseudonym(self, candidate_id: str, pseudonyms: Pseudonymizer) -> int:
        """Keep a candidate's outbox rows (at most once) under their pseudonym, payload emptied; how many.

        `related_id` (a match id embeds the candidate id) becomes a pseudonym too. A row that an
        earlier erasure already kept under the pseudonym (the same notification planned again
        since) is deleted instead.
        """
        # The recruiters' rows about the candidate's applications: their key (vacancy, purpose,
        # application) stays, so that a replay finds them and sends nothing; what they said goes.
        await self._conn.execute(
            """
            UPDATE outbox SET payload = '{}'::jsonb, related_id = NULL
            WHERE recipient_kind = 'recruiter' AND payload ->> 'candidate_id' = $1
            """,
            candidate_id,
        )
        rows = await self._conn.fetch(
            "SELECT id, related_id FROM outbox WHERE recipient_id = $1 AND recipient_kind = 'candidate'",
            candidate_id,
        )
        if not rows:
            return 0
        await self._conn.execute(
            """
            UPDATE outbox o SET recipient_id = $1, payload = '{}'::jsonb, related_id = k.related
            FROM unnest($2::uuid[], $3::text[]) AS k(id, related)
            WHERE o.id = k.id AND NOT EXISTS (
                SELECT 1 FROM outbox x
                WHERE (x.recipient_id, x.channel, x.purpose, x.about_id, x.about_version)
                    = ($1, o.channel, o.purpose, o.about_id, o.about_version)
            )
            """,
            pseudonyms.candidate(candidate_id),
            [r["id"] for r in rows],
            [None if r["related_id"] is None else pseudonyms.of("related", r["related_id"]) for r in rows],
        )
        await self._conn.execute(
            "DELETE FROM outbox WHERE recipient_id = $1 AND recipient_kind = 'candidate'", candidate_id
        )
        return len(rows)
